import { stringValue } from "./tokens.ts";

/**
 * The one key matcher: which of the names asked for a key of a JSON object spells. Two rules:
 * - exact: the key is the name, byte for byte once decoded (JavaScript's JSON.parse, Python's json);
 * - fold: Go's encoding/json (for a body a Go server will decode) — an exact match is preferred, else one that
 *   ignores letter case the way Go folds it (`Name`, `NAME`, and the two runes outside ASCII that fold into
 *   ASCII letters: U+017F ſ is an s, U+212A the Kelvin sign a k). Folding is done for names in ASCII, as the
 *   fields of such APIs are; a name outside it is matched exactly.
 * A key is compared in place, byte by byte: a body of 100,000 keys makes no view, string or closure per key (one
 * each made the scan of such a body leave many times its size in garbage: the README's Benchmarks has the figures).
 * Only a key with an escape is decoded (`"str\u0065am"` is `stream`, to every decoder).
 */
export interface KeyMatcher {
  readonly names: readonly string[];
  readonly fold: boolean;
  /** Each name as UTF-8, for the exact comparison in place. */
  readonly bytes: readonly Uint8Array[];
  /** Whether a name is ASCII, so that folding applies to it. */
  readonly ascii: readonly boolean[];
  /** Each name's first character, lower-cased as an ASCII letter would be. */
  readonly first: readonly number[];
  /** The longest a matching key can be written: every character escaped as \uXXXX. */
  readonly maxBytes: number;
}

export type Names = ReadonlySet<string> | readonly string[];

// Compiled once per list of names and rule: callers pass the same constant set for every request.
const exactCache = new WeakMap<Names, KeyMatcher>();
const foldCache = new WeakMap<Names, KeyMatcher>();

export function keyMatcher(names: Names, fold: boolean): KeyMatcher {
  const cache = fold ? foldCache : exactCache;
  let m = cache.get(names);
  if (!m) {
    const list = [...names];
    const encoder = new TextEncoder();
    m = {
      names: list,
      fold,
      bytes: list.map((n) => encoder.encode(n)),
      ascii: list.map((n) => /^[\x20-\x7e]*$/.test(n)),
      first: list.map((n) => n.charCodeAt(0) | 0x20),
      maxBytes: 6 * Math.max(0, ...list.map((n) => n.length)),
    };
    cache.set(names, m);
  }
  return m;
}

/** The name the key in b[start, end) spells (its quotes excluded), or null for none. */
export function matchKey(b: Uint8Array, start: number, end: number, m: KeyMatcher): string | null {
  const len = end - start;
  if (len > m.maxBytes) return null;
  for (let k = start; k < end; k++) if (b[k] === 0x5c) return matchDecoded(stringValue(b, start - 1, end + 1), m);
  for (let n = 0; n < m.names.length; n++) if (m.bytes[n]!.length === len && sameBytes(b, start, m.bytes[n]!)) return m.names[n]!;
  if (!m.fold || len === 0) return null;
  // Most keys are none of the names: their first byte says so without a call (ſ and K begin with C5 and E2).
  const first = b[start]! | 0x20;
  for (let n = 0; n < m.names.length; n++) {
    if (!m.ascii[n] || (first !== m.first[n] && first < 0xc5)) continue;
    if (foldsTo(b, start, end, m.names[n]!)) return m.names[n]!;
  }
  return null;
}

function matchDecoded(key: string | undefined, m: KeyMatcher): string | null {
  if (key === undefined) return null;
  for (const name of m.names) if (key === name) return name;
  if (!m.fold) return null;
  for (let n = 0; n < m.names.length; n++) if (m.ascii[n] && foldsToText(key, m.names[n]!)) return m.names[n]!;
  return null;
}

function sameBytes(b: Uint8Array, at: number, bytes: Uint8Array): boolean {
  for (let k = 0; k < bytes.length; k++) if (b[at + k] !== bytes[k]) return false;
  return true;
}

/**
 * Whether the key's UTF-8 bytes in [start, end) fold to `name` (ASCII) as Go's encoding/json folds them: ASCII
 * letters in either case, and ſ (C5 BF) and K (E2 84 AA) written out for an s and a k.
 */
function foldsTo(b: Uint8Array, start: number, end: number, name: string): boolean {
  if (end - start < name.length) return false;
  let i = start;
  for (let k = 0; k < name.length; k++) {
    if (i >= end) return false;
    const want = name.charCodeAt(k);
    const c = b[i++]!;
    if (c === want) continue;
    const letter = want | 0x20;
    if (letter < 0x61 || letter > 0x7a) return false;
    if ((c | 0x20) === letter) continue;
    if (letter === 0x73 && c === 0xc5 && b[i] === 0xbf) i += 1;
    else if (letter === 0x6b && c === 0xe2 && b[i] === 0x84 && b[i + 1] === 0xaa) i += 2;
    else return false;
  }
  return i === end;
}

/** The same for a decoded key (one that held an escape), in UTF-16 units: ſ is U+017F, K U+212A. */
function foldsToText(key: string, name: string): boolean {
  if (key.length !== name.length) return false;
  for (let k = 0; k < name.length; k++) {
    const want = name.charCodeAt(k);
    const c = key.charCodeAt(k);
    if (c === want) continue;
    const letter = want | 0x20;
    if (letter < 0x61 || letter > 0x7a) return false;
    if ((c | 0x20) === letter || (letter === 0x73 && c === 0x17f) || (letter === 0x6b && c === 0x212a)) continue;
    return false;
  }
  return true;
}
