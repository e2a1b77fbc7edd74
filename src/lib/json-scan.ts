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
  | { ok: true; kind: JsonKind; keys: number; fields: Map<string, FieldSpan> }
  | { ok: false; problem: "syntax" | "depth"; at: number };

export interface ScanOptions {
  maxDepth: number;
  /** The top-level fields worth noting; any other key is only counted (a body of a million keys must not become a map). */
  fields?: ReadonlySet<string>;
}

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
const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

export function scanJson(b: Uint8Array, opts: ScanOptions): ScanResult {
  return new Scanner(b, opts).run();
}

/** One pass over the bytes; each method handles one state and says which comes next, or -1 for invalid JSON. */
class Scanner {
  private readonly stack: Uint8Array;
  private depth = 0;
  private i = 0;
  private kind: JsonKind = "literal";
  private keys = 0;
  private readonly fields = new Map<string, FieldSpan>();
  private key: string | null = null;
  private fieldStart = -1;
  private fieldKind: JsonKind = "literal";
  private tooDeep = false;

  constructor(
    private readonly b: Uint8Array,
    private readonly opts: ScanOptions,
  ) {
    this.stack = new Uint8Array(opts.maxDepth + 1);
  }

  run(): ScanResult {
    let state: S | -1 = S.Value;
    for (;;) {
      while (isSpace(this.b[this.i])) this.i++;
      if (this.i >= this.b.length) break;
      state = this.step(state, this.b[this.i]!);
      if (state === -1) return { ok: false, problem: this.tooDeep ? "depth" : "syntax", at: this.i };
    }
    if (state !== S.Done) return { ok: false, problem: "syntax", at: this.i };
    return { ok: true, kind: this.kind, keys: this.keys, fields: this.fields };
  }

  private step(state: S, c: number): S | -1 {
    switch (state) {
      case S.Done:
        return -1;
      case S.KeyOrEnd:
        if (c === 0x7d) return this.close();
        return this.readKey(c);
      case S.Key:
        return this.readKey(c);
      case S.Colon:
        return c === 0x3a ? (this.i++, S.Value) : -1;
      case S.After:
        return this.after(c);
      case S.ValueOrEnd:
        return c === 0x5d ? this.close() : S.Value;
      case S.Value:
        return this.value(c);
    }
  }

  private readKey(c: number): S | -1 {
    if (c !== 0x22) return -1;
    const end = scanString(this.b, this.i);
    if (end < 0) return -1;
    if (this.depth === 1) this.noteKey(end);
    this.i = end;
    return S.Colon;
  }

  /** Counts a top-level key, and decodes it only when it could be one of the fields asked for. */
  private noteKey(end: number): void {
    this.keys++;
    const wanted = this.opts.fields;
    this.key = wanted && end - this.i <= MAX_KEY_BYTES ? JSON.parse(utf8.decode(this.b.subarray(this.i, end))) : null;
    if (this.key !== null && !wanted!.has(this.key)) this.key = null;
  }

  private value(c: number): S | -1 {
    if (this.depth === 1 && this.stack[1] === OBJ) this.fieldStart = this.i;
    if (c === 0x7b || c === 0x5b) return this.open(c);
    const isNumber = c === 0x2d || (c >= 0x30 && c <= 0x39);
    const end = c === 0x22 ? scanString(this.b, this.i) : isNumber ? scanNumber(this.b, this.i) : scanLiteral(this.b, this.i);
    if (end < 0) return -1;
    const kind: JsonKind = c === 0x22 ? "string" : isNumber ? "number" : "literal";
    if (this.depth === 0) this.kind = kind;
    if (this.depth === 1) this.fieldKind = kind;
    this.i = end;
    return this.valueEnded();
  }

  private open(c: number): S | -1 {
    if (this.depth >= this.opts.maxDepth) {
      this.tooDeep = true;
      return -1;
    }
    const kind: JsonKind = c === 0x7b ? "object" : "array";
    if (this.depth === 0) this.kind = kind;
    if (this.depth === 1) this.fieldKind = kind;
    this.stack[++this.depth] = c === 0x7b ? OBJ : ARR;
    this.i++;
    return c === 0x7b ? S.KeyOrEnd : S.ValueOrEnd;
  }

  private close(): S {
    this.i++;
    this.depth--;
    return this.valueEnded();
  }

  private after(c: number): S | -1 {
    const top = this.stack[this.depth];
    if (c === 0x2c) return (this.i++, top === OBJ ? S.Key : S.Value);
    if ((c === 0x7d && top === OBJ) || (c === 0x5d && top === ARR)) return this.close();
    return -1;
  }

  /** A value just ended at `i`: note it if it is a wanted top-level field. */
  private valueEnded(): S {
    if (this.depth === 0) return S.Done;
    if (this.depth === 1 && this.stack[1] === OBJ && this.fieldStart >= 0) {
      if (this.key !== null) this.fields.set(this.key, { kind: this.fieldKind, start: this.fieldStart, end: this.i });
      this.fieldStart = -1;
    }
    return S.After;
  }
}

// No field we look for has a longer name, escapes included.
const MAX_KEY_BYTES = 64;

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

// A value of megabytes (a prompt, a message history) stands in for itself, shortened: a string just
// over this long, or an empty container. No schema of ours checks a length beyond it, and the copy handed
// to the validators stays small. Smaller values are kept as they are, so coercions decide as they did.
const LONG = 4096;
const LONG_STRING = JSON.stringify("x".repeat(LONG + 1));

/** The noted top-level fields of a scanned object, as JSON for the validators: `{"model":"x","messages":[]}`. */
export function shallowJson(b: Uint8Array, scan: Extract<ScanResult, { ok: true }>): string {
  if (scan.kind === "array") return "[]";
  if (scan.kind !== "object") return scan.kind === "string" && b.length > LONG ? LONG_STRING : utf8.decode(b).trim();
  const parts: string[] = [];
  for (const [k, span] of scan.fields) parts.push(`${JSON.stringify(k)}:${standIn(b, span)}`);
  return `{${parts.join(",")}}`;
}

function standIn(b: Uint8Array, s: FieldSpan): string {
  if (s.end - s.start <= LONG) return utf8.decode(b.subarray(s.start, s.end));
  return s.kind === "object" ? "{}" : s.kind === "array" ? "[]" : LONG_STRING;
}
