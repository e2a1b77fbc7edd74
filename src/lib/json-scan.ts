/**
 * A validating JSON scanner over raw bytes that builds nothing: it checks syntax and nesting depth
 * in one pass with an explicit stack (no recursion, so 50,000 levels cannot overflow anything), and
 * notes where each top-level field of an object starts and ends. A body can then be refused before
 * any side effect, and forwarded as the very bytes the client sent, without ever holding a parsed
 * copy whose objects can take ten times the memory of the text.
 */

export type JsonKind = "object" | "array" | "string" | "number" | "literal";

export interface FieldSpan {
  kind: JsonKind;
  start: number;
  end: number;
}

export type ScanResult =
  | { ok: true; kind: JsonKind; fields: Map<string, FieldSpan> }
  | { ok: false; problem: "syntax" | "depth"; at: number };

const enum S {
  Value,
  ValueOrEnd,
  Key,
  KeyOrEnd,
  Colon,
  After,
  Done,
}

const utf8 = new TextDecoder();
const OBJ = 1;
const ARR = 2;

export function scanJson(b: Uint8Array, maxDepth: number): ScanResult {
  const stack = new Uint8Array(maxDepth + 1);
  const fields = new Map<string, FieldSpan>();
  let depth = 0;
  let state = S.Value;
  let kind: JsonKind = "literal";
  let key = "";
  let fieldStart = -1;
  let fieldKind: JsonKind = "literal";
  let i = 0;
  const n = b.length;
  const fail = (problem: "syntax" | "depth") => ({ ok: false as const, problem, at: i });

  while (true) {
    while (i < n && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
    if (i >= n) return state === S.Done ? { ok: true, kind, fields } : fail("syntax");
    const c = b[i]!;
    let valueKind: JsonKind = "literal";
    switch (state) {
      case S.Done:
        return fail("syntax");
      case S.KeyOrEnd:
      case S.Key:
        if (c === 0x7d && state === S.KeyOrEnd) {
          i++;
          depth--;
          break;
        }
        if (c !== 0x22) return fail("syntax");
        {
          const end = scanString(b, i);
          if (end < 0) return fail("syntax");
          if (depth === 1) key = JSON.parse(utf8.decode(b.subarray(i, end)));
          i = end;
        }
        state = S.Colon;
        continue;
      case S.Colon:
        if (c !== 0x3a) return fail("syntax");
        i++;
        state = S.Value;
        continue;
      case S.After:
        if (c === 0x2c) {
          i++;
          state = stack[depth] === OBJ ? S.Key : S.Value;
          continue;
        }
        if ((c === 0x7d && stack[depth] === OBJ) || (c === 0x5d && stack[depth] === ARR)) {
          i++;
          depth--;
          break;
        }
        return fail("syntax");
      case S.ValueOrEnd:
        if (c === 0x5d) {
          i++;
          depth--;
          break;
        }
        state = S.Value; // any other byte starts the array's first value
        continue;
      case S.Value: {
        if (depth === 1 && stack[1] === OBJ) fieldStart = i;
        if (c === 0x7b || c === 0x5b) {
          if (depth >= maxDepth) return fail("depth");
          if (depth === 0) kind = c === 0x7b ? "object" : "array";
          if (depth === 1) fieldKind = c === 0x7b ? "object" : "array";
          stack[++depth] = c === 0x7b ? OBJ : ARR;
          i++;
          state = c === 0x7b ? S.KeyOrEnd : S.ValueOrEnd;
          continue;
        }
        const end = c === 0x22 ? scanString(b, i) : c === 0x2d || (c >= 0x30 && c <= 0x39) ? scanNumber(b, i) : scanLiteral(b, i);
        if (end < 0) return fail("syntax");
        valueKind = c === 0x22 ? "string" : c === 0x2d || (c >= 0x30 && c <= 0x39) ? "number" : "literal";
        if (depth === 1) fieldKind = valueKind;
        if (depth === 0) kind = valueKind;
        i = end;
        break;
      }
    }
    // A value just ended at `i`, at nesting `depth`.
    if (depth === 0) {
      state = S.Done;
    } else {
      if (depth === 1 && stack[1] === OBJ && fieldStart >= 0) {
        fields.set(key, { kind: fieldKind, start: fieldStart, end: i });
        fieldStart = -1;
      }
      state = S.After;
    }
  }
}

/** From an opening quote to just past the closing one; -1 when it is not a valid JSON string. */
function scanString(b: Uint8Array, i: number): number {
  for (i++; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x22) return i + 1;
    if (c < 0x20) return -1;
    if (c !== 0x5c) continue;
    const e = b[++i];
    if (e === 0x75) {
      for (let k = 1; k <= 4; k++) if (!isHex(b[i + k])) return -1;
      i += 4;
    } else if (e === undefined || !ESCAPES.has(e)) return -1;
  }
  return -1;
}

const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const isHex = (c: number | undefined) => c !== undefined && ((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66));
const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

function scanNumber(b: Uint8Array, i: number): number {
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return -1;
  if (b[i] === 0x2e) {
    if (!isDigit(b[++i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  return i;
}

const LITERALS = ["true", "false", "null"].map((w) => new TextEncoder().encode(w));

function scanLiteral(b: Uint8Array, i: number): number {
  for (const w of LITERALS) {
    if (w.every((ch, k) => b[i + k] === ch)) return i + w.length;
  }
  return -1;
}

// A string of megabytes (a prompt) stands in as one just over this long: no schema of ours checks a
// length beyond it, and the copy handed to the validators stays small.
const LONG = 4096;
const LONG_STRING = JSON.stringify("x".repeat(LONG + 1));

/**
 * The top level of a scanned body with every nested container emptied: `{"model":"x","messages":[]}`.
 * It is all a schema that checks only top-level fields needs, and its size is bounded by the primitives.
 */
export function shallowJson(b: Uint8Array, scan: Extract<ScanResult, { ok: true }>): string {
  const decode = (s: FieldSpan) =>
    s.kind === "object" ? "{}" : s.kind === "array" ? "[]" : s.kind === "string" && s.end - s.start > LONG ? LONG_STRING : utf8.decode(b.subarray(s.start, s.end));
  if (scan.kind === "array") return "[]";
  if (scan.kind !== "object") return utf8.decode(b).trim();
  const parts: string[] = [];
  for (const [k, span] of scan.fields) parts.push(`${JSON.stringify(k)}:${decode(span)}`);
  return `{${parts.join(",")}}`;
}
