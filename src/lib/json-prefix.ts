/**
 * The string value of a top-level field, read from the start of a JSON object that may be cut short
 * (the first kilobytes of a large upload). It tracks strings and nesting only: no validation, nothing
 * built but the one string. Undefined when the field is absent from the prefix or not a string.
 */
export function topLevelString(prefix: Uint8Array, names: readonly string[]): string | undefined {
  let depth = 0;
  let i = 0;
  let expectKey = false;
  let key: string | undefined;
  const n = prefix.length;
  while (i < n) {
    const c = prefix[i]!;
    if (c === 0x22) {
      const end = stringEnd(prefix, i);
      if (end < 0) return undefined; // cut inside a string
      if (depth === 1 && expectKey) {
        key = decode(prefix, i, end);
        expectKey = false;
      } else if (depth === 1 && key !== undefined) {
        if (names.includes(key)) return decode(prefix, i, end);
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
  return undefined;
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
