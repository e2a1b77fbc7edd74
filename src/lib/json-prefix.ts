/**
 * The string values of some top-level fields, read from the start of a JSON object that may be cut short
 * (the first kilobytes of a large upload). It tracks strings and nesting only: no validation, nothing
 * built but those strings. A field given twice has its last value, as JSON decoders keep; a field absent
 * from the prefix, or not a string, is not in the map.
 */
export function topLevelStrings(prefix: Uint8Array, names: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  const inPlace = names.map(printableAscii); // asked once, not for every key of the body
  let depth = 0;
  let i = 0;
  let expectKey = false;
  /** The current top-level key when it is one of `names`, null when it is another (its value is skipped). */
  let key: string | null | undefined;
  const n = prefix.length;
  while (i < n) {
    const c = prefix[i]!;
    if (c === 0x22) {
      const end = stringEnd(prefix, i);
      if (end < 0) return found; // cut inside a string
      if (depth === 1 && expectKey) {
        key = keyNamed(prefix, i, end, names, inPlace);
        expectKey = false;
      } else if (depth === 1 && key !== undefined) {
        if (key !== null) {
          const value = decode(prefix, i, end);
          if (value !== undefined) found.set(key, value);
        }
        key = undefined;
      }
      i = end;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth === 1) expectKey = c === 0x7b;
      if (depth === 2) key = undefined; // the value of the current key is a container: not a string
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x2c && depth === 1) {
      expectKey = true;
      key = undefined;
    } else if (depth === 1 && key !== undefined && c !== 0x3a && c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
      key = undefined; // a number, true, false or null
    }
    i++;
  }
  return found;
}

/**
 * Which of `names` the key in b[start, end) (quotes included) is, or null for none. A key without escapes is
 * compared in place with each name of printable ASCII (`inPlace`), byte by byte, so the keys a body is made
 * of are not each decoded to find the few wanted; an escaped key, or any other name, is compared decoded.
 */
function keyNamed(b: Uint8Array, start: number, end: number, names: readonly string[], inPlace: readonly boolean[]): string | null {
  const escaped = b.subarray(start + 1, end - 1).includes(0x5c);
  let decoded: string | undefined | null = null; // null: not decoded yet
  for (let n = 0; n < names.length; n++) {
    const name = names[n]!;
    if (!escaped && inPlace[n]) {
      if (name.length === end - start - 2 && sameBytes(b, start + 1, name)) return name;
      continue;
    }
    if (decoded === null) decoded = decode(b, start, end);
    if (decoded === name) return name;
  }
  return null;
}

function printableAscii(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** Whether b holds `name` (printable ASCII) from `at` on: a byte of a multibyte character is above 0x7f, never equal. */
function sameBytes(b: Uint8Array, at: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) if (b[at + i] !== name.charCodeAt(i)) return false;
  return true;
}

/** The index just past the closing quote of the string starting at `at`, or -1 if it does not end here. */
function stringEnd(b: Uint8Array, at: number): number {
  for (let i = at + 1; i < b.length; i++) {
    if (b[i] === 0x5c) i++;
    else if (b[i] === 0x22) return i + 1;
  }
  return -1;
}

const utf8 = new TextDecoder();

function decode(b: Uint8Array, start: number, end: number): string | undefined {
  try {
    return JSON.parse(utf8.decode(b.subarray(start, end))) as string;
  } catch {
    return undefined;
  }
}
