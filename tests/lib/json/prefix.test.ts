import { expect, test } from "bun:test";
import { topLevelStrings } from "../../../src/lib/json/index.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const read = (s: string, names = ["model", "name"]) => Object.fromEntries(topLevelStrings(enc(s), names));

test.each<[string, string, Record<string, string>]>([
  ["a field anywhere at the top", '{"messages":[{"role":"user","content":"hi"}],"model":"qwen2.5:7b"}', { model: "qwen2.5:7b" }],
  ["both model and name", '{"name":"a","model":"b"}', { name: "a", model: "b" }],
  ["given twice: the last, as JSON decoders keep", '{"model":"a","model":"b"}', { model: "b" }],
  ["nested fields are not the top level's", '{"options":{"model":"x"},"messages":[{"name":"y"}]}', {}],
  ["a string value that looks like a key", '{"prompt":"\\"model\\":\\"x\\"","model":"real"}', { model: "real" }],
  ["escapes are decoded", '{"model":"a\\u0062c"}', { model: "abc" }],
  ["a key written with escapes is the same key", '{"mod\\u0065l":"x","n\\u0061me":"y"}', { model: "x", name: "y" }],
  ["keys that only start or end like one, or hold other letters, are others", '{"models":"a","mode":"b","namé":"c","Model":"d"}', {}],
  ["a key of a name's length in bytes, with a letter of two bytes, is another", '{"modé":"a"}', {}],
  ["a key with a broken escape is no name", '{"mo\\xdel":"a","model":"b"}', { model: "b" }],
  ["a model that is not a string", '{"model":42,"name":null}', {}],
  ["a top-level array has no fields", '["model","x"]', {}],
  ["cut inside a later string: what came before counts", '{"model":"m","prompt":"aaaa', { model: "m" }],
  ["cut inside the value itself: nothing", '{"model":"qwe', {}],
])("%s", (_name, json, expected) => {
  expect(read(json)).toEqual(expected);
});

test("a name outside printable ASCII is found by its decoded key", () => {
  expect(read('{"namé":"a","\\u00e9":"b","x":"c"}', ["namé", "é"])).toEqual({ namé: "a", é: "b" });
  expect(topLevelStrings(new Uint8Array([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x22, 0x61, 0x22, 0x7d]), ["é"]).size).toBe(0); // a lone byte 0xE9 is not é
});
