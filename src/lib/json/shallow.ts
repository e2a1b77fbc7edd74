import type { FieldSpan, Scanned } from "./scan.ts";

const utf8 = new TextDecoder();

// A value of megabytes (a prompt, a message history) stands in for itself, shortened, so the copy handed
// to the validators stays small: a string just over LONG, or a list or object of the same kind that no
// number coerces from. No schema of ours checks a length beyond LONG; numbers stay as written, and smaller
// values too, so the validators decide as they would on the whole body.
const LONG = 4096;
const LONG_STRING = JSON.stringify("x".repeat(LONG + 1));

/** The noted top-level fields of a scanned object, as JSON for the validators: `{"model":"x","messages":[null,null]}`. */
export function shallowJson(b: Uint8Array, scan: Scanned): string {
  if (scan.kind === "array") return "[null,null]";
  if (scan.kind !== "object") return scan.kind === "string" && b.length > LONG ? LONG_STRING : utf8.decode(b).trim();
  const parts: string[] = [];
  for (const [k, span] of scan.fields) parts.push(`${JSON.stringify(k)}:${standIn(b, span)}`);
  return `{${parts.join(",")}}`;
}

function standIn(b: Uint8Array, s: FieldSpan): string {
  if (s.end - s.start <= LONG || s.kind === "number" || s.kind === "literal") return utf8.decode(b.subarray(s.start, s.end));
  return s.kind === "object" ? '{"x":null}' : s.kind === "array" ? "[null,null]" : LONG_STRING;
}
