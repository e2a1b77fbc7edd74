import { keyMatcher, matchKey, type Names } from "./keys.ts";
import { scanString, stringValue } from "./tokens.ts";

/**
 * The string values of some top-level fields, read from the start of a JSON object that may be cut short
 * (the first kilobytes of a large upload). It tracks strings and nesting only: no validation, nothing
 * built but those strings. A field given twice has its last value, as JSON decoders keep; a field absent
 * from the prefix, or not a string, is not in the map. Keys are matched exactly, or with `fold` as Go does
 * (keys.ts).
 */
export function topLevelStrings(prefix: Uint8Array, names: Names, opts: { fold?: boolean } = {}): Map<string, string> {
  const found = new Map<string, string>();
  const wanted = keyMatcher(names, opts.fold === true);
  let depth = 0;
  let i = 0;
  let expectKey = false;
  /** The current top-level key when it is one of `names`, null when it is another (its value is skipped). */
  let key: string | null | undefined;
  const n = prefix.length;
  while (i < n) {
    const c = prefix[i]!;
    if (c === 0x22) {
      const end = scanString(prefix, i, true);
      if (end < 0) return found; // cut inside a string
      if (depth === 1 && expectKey) {
        key = matchKey(prefix, i + 1, end - 1, wanted);
        expectKey = false;
      } else if (depth === 1 && key !== undefined) {
        if (key !== null) {
          const value = stringValue(prefix, i, end);
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
