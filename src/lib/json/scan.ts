import { type KeyMatcher, keyMatcher, matchKey, type Names } from "./keys.ts";
import { scanLiteral, scanNumber, scanString, stringValue } from "./tokens.ts";

/**
 * A validating JSON scanner over raw bytes that builds nothing: it checks syntax and nesting depth
 * in one pass with an explicit stack (no recursion, so 50,000 levels cannot overflow anything), and
 * notes where each top-level field asked for starts and ends (with its text, when asked). A body can then be
 * refused before any side effect, and forwarded as the very bytes the client sent, without ever holding a
 * parsed copy whose objects can take ten times the memory of the text.
 */

export type JsonKind = "object" | "array" | "string" | "number" | "literal";

export interface FieldSpan {
  kind: JsonKind;
  /** Where its value is: b[start, end). A field given twice is where the last one is, as decoders keep it. */
  start: number;
  end: number;
  /** Where its (last) key is written, quotes excluded. */
  keyStart: number;
  keyEnd: number;
  /** The string's text, with `strings` (a value that is no string has none). */
  value?: string;
  /** Given more than once, not always spelled the same (`"name"` and `"Name"`, with `fold`). */
  respelled?: boolean;
}

export type ScanResult =
  | { ok: true; kind: JsonKind; keys: number; fields: Map<string, FieldSpan> }
  | { ok: false; problem: "syntax" | "depth"; at: number };
export type Scanned = Extract<ScanResult, { ok: true }>;

export interface ScanOptions {
  maxDepth: number;
  /** The top-level fields worth noting; any other key is only counted (a body of a million keys must not become a map). */
  fields?: Names;
  /** Keys as Go's encoding/json matches them (exact first, else in any letter case: keys.ts); exact otherwise. */
  fold?: boolean;
  /** Decode the text of the fields noted that are strings (`value`). */
  strings?: boolean;
}

enum S {
  Value,
  ValueOrEnd,
  Key,
  KeyOrEnd,
  Colon,
  After,
  Done,
}

const OBJ = 1;
const ARR = 2;
const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Checks a whole body in one pass and returns every top-level field asked for. */
export function scanBody(b: Uint8Array, opts: ScanOptions): ScanResult {
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
  private keyStart = 0;
  private keyEnd = 0;
  private fieldStart = -1;
  private fieldKind: JsonKind = "literal";
  private tooDeep = false;
  private readonly wanted: KeyMatcher | null;

  constructor(
    private readonly b: Uint8Array,
    private readonly opts: ScanOptions,
  ) {
    this.stack = new Uint8Array(opts.maxDepth + 1);
    this.wanted = opts.fields ? keyMatcher(opts.fields, opts.fold === true) : null;
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
    if (this.depth === 1) {
      this.keys++;
      this.keyStart = this.i + 1;
      this.keyEnd = end - 1;
      this.key = this.wanted ? matchKey(this.b, this.keyStart, this.keyEnd, this.wanted) : null;
    }
    this.i = end;
    return S.Colon;
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
      if (this.key !== null) this.note(this.key);
      this.fieldStart = -1;
    }
    return S.After;
  }

  private note(name: string): void {
    const { b, fieldStart: start, i: end, keyStart, keyEnd } = this;
    const span: FieldSpan = { kind: this.fieldKind, start, end, keyStart, keyEnd };
    if (this.opts.strings && span.kind === "string") span.value = stringValue(b, start, end);
    const before = this.fields.get(name);
    // The last string given stays the field's text when a later value is none (a null leaves a Go string as it
    // was): the same text topLevelStrings reads from a large body's first bytes.
    if (span.value === undefined && before?.value !== undefined) span.value = before.value;
    if (before && (before.respelled || !sameKey(b, before, span))) span.respelled = true;
    this.fields.set(name, span);
  }
}

function sameKey(b: Uint8Array, x: FieldSpan, y: FieldSpan): boolean {
  if (x.keyEnd - x.keyStart !== y.keyEnd - y.keyStart) return false;
  for (let k = 0; k < x.keyEnd - x.keyStart; k++) if (b[x.keyStart + k] !== b[y.keyStart + k]) return false;
  return true;
}

/** The text of those of `names` that a scan found as strings (a plain map, for a caller that only reads text). */
export function stringsOf(fields: Map<string, FieldSpan>, names: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const name of names) {
    const value = fields.get(name)?.value;
    if (value !== undefined) found.set(name, value);
  }
  return found;
}
