/**
 * One JSON reader for request bodies, over their raw bytes.
 *
 * For a body read whole, ONE call does everything a request needs of it:
 *
 *   scanBody(bytes, { maxDepth, fields, fold, strings })
 *     → { ok: true, kind, keys, fields: Map<name, { kind, start, end, value?, respelled? }> }
 *     | { ok: false, problem: "syntax" | "depth", at }
 *
 * the syntax and depth check, and every top-level field named in `fields` (a constant set: its matcher is
 * compiled once) with where its value is and, with `strings`, its text. `fold` matches keys as Go's
 * encoding/json does (exact first, else in any letter case: keys.ts), for a body a Go server will decode;
 * without it, exactly (JSON.parse, Python). `stringsOf(fields, names)`
 * gives the string fields as a plain map.
 *
 * For the first bytes of a body that streams (cut anywhere, not validated): topLevelStrings(prefix, names, { fold }).
 * For validators that read only some fields: shallowJson(bytes, scanned).
 */
export { type KeyMatcher, keyMatcher, matchKey, type Names } from "./keys.ts";
export { topLevelStrings } from "./prefix.ts";
// scanJson: the name the scanner had before it returned every field at once (the first tests call it so).
export { type FieldSpan, type JsonKind, type Scanned, type ScanOptions, type ScanResult, scanBody, scanBody as scanJson, stringsOf } from "./scan.ts";
export { shallowJson } from "./shallow.ts";
