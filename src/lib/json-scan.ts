import { scanLiteral, scanNumber, scanString } from "./json-tokens.ts";

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
  private readonly wanted: WantedKeys | null;

  constructor(
    private readonly b: Uint8Array,
    private readonly opts: ScanOptions,
  ) {
    this.stack = new Uint8Array(opts.maxDepth + 1);
    this.wanted = opts.fields ? wantedKeys(opts.fields) : null;
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

  /**
   * Counts a top-level key and notes whether it is one of the fields asked for: compared as bytes, and
   * decoded only when it holds an escape (`"str\u0065am"` is `stream`, to Ollama too).
   */
  private noteKey(end: number): void {
    this.keys++;
    this.key = this.wanted ? matchKey(this.b, this.i + 1, end - 1, this.wanted) : null;
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

interface WantedKeys {
  names: ReadonlySet<string>;
  encoded: { name: string; bytes: Uint8Array }[];
  /** The longest a wanted key can be written, every character escaped as \uXXXX. */
  maxBytes: number;
}

const wantedCache = new WeakMap<ReadonlySet<string>, WantedKeys>();

function wantedKeys(names: ReadonlySet<string>): WantedKeys {
  let w = wantedCache.get(names);
  if (!w) {
    const encoded = [...names].map((name) => ({ name, bytes: new TextEncoder().encode(name) }));
    w = { names, encoded, maxBytes: 6 * Math.max(0, ...[...names].map((n) => n.length)) };
    wantedCache.set(names, w);
  }
  return w;
}

/**
 * The wanted name a key's bytes (between its quotes) spell, or null. Compared in place, byte by byte:
 * a body of 100,000 keys makes no view or closure per key (one each took the scan of such a 1.5 MB body
 * from nothing to 30-40 MB of garbage).
 */
function matchKey(b: Uint8Array, start: number, end: number, w: WantedKeys): string | null {
  const len = end - start;
  if (len > w.maxBytes) return null;
  if (!hasByte(b, start, end, 0x5c)) {
    for (const { name, bytes } of w.encoded) if (bytes.length === len && sameBytes(b, start, bytes)) return name;
    return null;
  }
  const decoded: string = JSON.parse(utf8.decode(b.subarray(start - 1, end + 1)));
  return w.names.has(decoded) ? decoded : null;
}

function hasByte(b: Uint8Array, start: number, end: number, x: number): boolean {
  for (let k = start; k < end; k++) if (b[k] === x) return true;
  return false;
}

function sameBytes(b: Uint8Array, at: number, bytes: Uint8Array): boolean {
  for (let k = 0; k < bytes.length; k++) if (b[at + k] !== bytes[k]) return false;
  return true;
}
