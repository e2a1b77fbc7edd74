// One scan of a proxied body gives every step what it reads: the syntax and depth check, `stream`, and the
// fields a router reads, with their text — no second pass over the bytes.
import { expect, test } from "bun:test";
import { scanBody, stringsOf } from "../../../src/lib/json/index.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const ROUTING = ["model", "name", "from", "source"];
const WANTED = new Set(["stream", ...ROUTING]);
const at = (b: Uint8Array, start: number, end: number) => new TextDecoder().decode(b.subarray(start, end));
const scan = (text: string, maxDepth = 16) => scanBody(enc(text), { maxDepth, fields: WANTED, fold: true, strings: true });

test("one scan gives stream, the routing fields with their text, and the depth check", () => {
  const text = JSON.stringify({
    messages: [{ role: "user", content: 'hi \u00e9 "q"' }],
    Model: "qwen2.5:7b",
    options: { model: "inner" },
    stream: true,
  });
  const r = scan(text);
  const b = enc(text); // offsets are in bytes
  if (!r.ok) throw new Error("expected valid");
  expect(r.kind).toBe("object");
  expect(r.keys).toBe(4);
  const stream = r.fields.get("stream")!;
  expect({ kind: stream.kind, text: at(b, stream.start, stream.end) }).toEqual({ kind: "literal", text: "true" });
  expect(stream.value).toBeUndefined(); // text only for strings
  expect(Object.fromEntries(stringsOf(r.fields, ROUTING))).toEqual({ model: "qwen2.5:7b" });
  const model = r.fields.get("model")!;
  expect(at(b, model.keyStart, model.keyEnd)).toBe("Model");
  expect(scan(`${"[".repeat(17)}${"]".repeat(17)}`)).toMatchObject({ ok: false, problem: "depth" });
  expect(scan('{"model":"m",}')).toMatchObject({ ok: false, problem: "syntax" });
});

test("a routing field that is no string, or a string with escapes, reads as Ollama would take it", () => {
  const r = scan('{"model":"a\\u0062c","name":42,"from":["x"],"source":"\\"q\\""}');
  if (!r.ok) throw new Error("expected valid");
  expect(Object.fromEntries(stringsOf(r.fields, ROUTING))).toEqual({ model: "abc", source: '"q"' });
});

test("without `strings` no text is decoded, and fields not asked for are only counted", () => {
  const r = scanBody(enc('{"model":"m","other":"o"}'), { maxDepth: 4, fields: WANTED });
  if (!r.ok) throw new Error("expected valid");
  expect(r.keys).toBe(2);
  expect([...r.fields.keys()]).toEqual(["model"]);
  expect(r.fields.get("model")!.value).toBeUndefined();
});

test("a field given twice: the last string stands, a later null or number does not erase it (as the large-body reader reads it)", () => {
  for (const text of ['{"model":"a","model":null}', '{"model":"a","model":5}', '{"model":"a","Model":null}']) {
    const r = scan(text);
    if (!r.ok) throw new Error("expected valid");
    expect(Object.fromEntries(stringsOf(r.fields, ROUTING))).toEqual({ model: "a" });
  }
  const r = scan('{"model":"a","model":"b"}');
  if (!r.ok) throw new Error("expected valid");
  expect(Object.fromEntries(stringsOf(r.fields, ROUTING))).toEqual({ model: "b" });
});
