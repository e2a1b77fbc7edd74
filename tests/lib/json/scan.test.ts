import { describe, expect, test } from "bun:test";
import { scanJson } from "../../../src/lib/json/index.ts";
import { shallowJson } from "../../../src/lib/json/shallow.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const FIELDS = new Set(["model", "messages", "stream", "opts", "prompt"]);
const valid = (s: string) => {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
};

describe("scanJson", () => {
  test("agrees with JSON.parse on what is valid JSON", () => {
    const cases = [
      "{}",
      "[]",
      '""',
      "0",
      "-0",
      "1.5e+10",
      "true",
      "null",
      ' \n{ "a" : [1, {"b": null}] }\t',
      '{"a":"\\u00e9\\n\\"x"}',
      '"\\uZZZZ"',
      "01",
      "1.",
      ".5",
      "-",
      "+1",
      "[1,]",
      "{,}",
      '{"a" 1}',
      '{"a":}',
      "[1 2]",
      "{} {}",
      "",
      "   ",
      "nul",
      "tru",
      "[",
      "]",
      '{"a":1,}',
      '"tab\there"',
      "[[[]]]",
      '{"a":{"b":{"c":[]}}}',
      "1e5",
      "1E-5",
      "-12.34e+5",
      '"\\/"',
      '"\\x"',
      "[true,false,null]",
      '{"":0}',
    ];
    for (const c of cases) expect({ c, ok: scanJson(enc(c), { maxDepth: 64, fields: FIELDS }).ok }).toEqual({ c, ok: valid(c) });
  });

  test("agrees with JSON.parse on random mutations of valid documents", () => {
    const base = JSON.stringify({ model: "m", messages: [{ role: "user", content: 'hi "there"\n' }], n: -1.5e3, ok: true, x: null });
    const alphabet = '{}[]",:01-.eE tfnu\\ax';
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    for (let k = 0; k < 5000; k++) {
      const chars = [...base];
      for (let m = 0; m <= rnd(3); m++) chars[rnd(chars.length)] = alphabet[rnd(alphabet.length)]!;
      const text = chars.join("");
      expect({ text, ok: scanJson(enc(text), { maxDepth: 64, fields: FIELDS }).ok }).toEqual({ text, ok: valid(text) });
    }
  });

  test("refuses nesting past the limit without recursion, at any depth asked", () => {
    const deep = "[".repeat(50_000) + "]".repeat(50_000);
    expect(scanJson(enc(deep), { maxDepth: 256, fields: FIELDS })).toMatchObject({ ok: false, problem: "depth" });
    expect(scanJson(enc("[".repeat(256) + "]".repeat(256)), { maxDepth: 256, fields: FIELDS }).ok).toBe(true);
    expect(scanJson(enc('{"a":'.repeat(257) + "1" + "}".repeat(257)), { maxDepth: 256, fields: FIELDS })).toMatchObject({
      ok: false,
      problem: "depth",
    });
  });

  test("notes the top-level fields, and the shallow form keeps primitives and empties containers", () => {
    const text = '{"model":"llama3","messages":[{"role":"user"}],"stream":true,"opts":{"a":1},"model":"last"}';
    const r = scanJson(enc(text), { maxDepth: 64, fields: FIELDS });
    if (!r.ok) throw new Error("expected valid");
    expect(r.kind).toBe("object");
    expect([...r.fields.keys()]).toEqual(["model", "messages", "stream", "opts"]);
    expect(r.keys).toBe(5);
    expect(r.fields.get("messages")!.kind).toBe("array");
    expect(text.slice(r.fields.get("opts")!.start, r.fields.get("opts")!.end)).toBe('{"a":1}');
    expect(JSON.parse(shallowJson(enc(text), r))).toEqual({ model: "last", messages: [{ role: "user" }], stream: true, opts: { a: 1 } });
    expect(shallowJson(enc("[1,2]"), scanJson(enc("[1,2]"), { maxDepth: 4, fields: FIELDS }) as never)).toBe("[null,null]");
    expect(shallowJson(enc(' "x" '), scanJson(enc(' "x" '), { maxDepth: 4, fields: FIELDS }) as never)).toBe('"x"');
    const long = JSON.stringify({ model: "m", prompt: "p".repeat(1_000_000) });
    const shallow = JSON.parse(shallowJson(enc(long), scanJson(enc(long), { maxDepth: 4, fields: FIELDS }) as never));
    expect(shallow.model).toBe("m");
    expect(shallow.prompt.length).toBe(4097); // a stand-in, still a string longer than any limit a schema sets
    const big = JSON.stringify({ messages: Array.from({ length: 2000 }, () => ({ role: "user" })), other: 1 });
    expect(JSON.parse(shallowJson(enc(big), scanJson(enc(big), { maxDepth: 8, fields: FIELDS }) as never))).toEqual({ messages: [null, null] });
  });

  test("a body of a hundred thousand keys is counted, not kept: only the fields asked for are noted", () => {
    const wide = `{${Array.from({ length: 100_000 }, (_, i) => `"k${i}":${i}`).join(",")},"model":"m"}`;
    const r = scanJson(enc(wide), { maxDepth: 8, fields: FIELDS });
    if (!r.ok) throw new Error("expected valid");
    expect(r.keys).toBe(100_001);
    expect([...r.fields.keys()]).toEqual(["model"]);
    expect(scanJson(enc(wide), { maxDepth: 8 })).toMatchObject({ ok: true, keys: 100_001 });
  });

  test("a key is matched as bytes, or decoded when it holds an escape; a wanted key nested deeper is not noted", () => {
    const text = '{"str\\u0065am":true,"opts":{"model":"inner"},"modelx":1,"mode":2}';
    const r = scanJson(enc(text), { maxDepth: 8, fields: FIELDS });
    if (!r.ok) throw new Error("expected valid");
    expect([...r.fields.keys()]).toEqual(["stream", "opts"]);
  });

  test("values that must coerce as they would whole keep their meaning in the shallow form", () => {
    const shallowOf = (text: string) =>
      JSON.parse(shallowJson(enc(text), scanJson(enc(text), { maxDepth: 8, fields: new Set(["ttl_s", "model"]) }) as never));
    expect(shallowOf(`{"ttl_s":[5${" ".repeat(5000)}]}`).ttl_s).toEqual([null, null]); // Number() of it is NaN, as a 422 should be
    expect(Number(shallowOf(`{"ttl_s":[5]}`).ttl_s)).toBe(5);
    expect(typeof shallowOf(`{"model":1${"0".repeat(5000)}}`).model).toBe("number"); // not a stand-in string that z.string() would pass
  });
});
