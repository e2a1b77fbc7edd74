// The one key matcher's letter-case rule, checked against what Go's encoding/json (Ollama's decoder) does: an
// exact match is preferred, else a key that folds to the name (ASCII letters in either case, and the two runes
// outside ASCII that fold into ASCII letters: U+017F ſ into s, U+212A the Kelvin sign into k). Without `fold`,
// keys match exactly, as JSON.parse and Python's json read them.
import { describe, expect, test } from "bun:test";
import { keyMatcher, matchKey, scanBody, topLevelStrings } from "../../../src/lib/json/index.ts";

const enc = (s: string) => new TextEncoder().encode(s);
/** The name a key (as written between its quotes, escapes included) matches, by the rule asked. */
const nameOf = (written: string, names: readonly string[], fold: boolean) => {
  const b = enc(`"${written}"`);
  return matchKey(b, 1, b.length - 1, keyMatcher(names, fold));
};
const FIELDS = ["model", "name", "stream", "keep_alive"];

describe("fold: keys as Go's encoding/json matches them", () => {
  test.each<[string, string | null]>([
    ["model", "model"],
    ["Model", "model"],
    ["MODEL", "model"],
    ["mOdEl", "model"],
    ["\\u004dodel", "model"], // an escaped capital is a capital
    ["\u017Ftream", "stream"], // ſ folds into s
    ["\\u017ftream", "stream"],
    ["\u212Aeep_alive", "keep_alive"], // the Kelvin sign folds into k
    ["KEEP_ALIVE", "keep_alive"],
    ["keep-alive", null], // v1 does not ignore dashes or underscores
    ["keepalive", null],
    ["\u0130tem", null], // İ is no I to Go's fold
    ["nam\u00e9", null],
    ["models", null],
    ["mode", null],
    ["M0del", null],
    ["", null],
  ])("%s → %s", (written, expected) => {
    expect(nameOf(written, FIELDS, true)).toBe(expected);
  });

  test("an exact match is preferred to one that only folds", () => {
    const names = ["Model", "model"];
    expect(nameOf("model", names, true)).toBe("model");
    expect(nameOf("Model", names, true)).toBe("Model");
    expect(nameOf("MODEL", names, true)).toBe("Model"); // folded: the first declared, as Go picks
    expect(nameOf("mod\\u0065l", names, true)).toBe("model");
  });

  test("without fold, only the exact key", () => {
    expect(nameOf("model", FIELDS, false)).toBe("model");
    expect(nameOf("Model", FIELDS, false)).toBeNull();
    expect(nameOf("\u017Ftream", FIELDS, false)).toBeNull();
    expect(nameOf("mod\\u0065l", FIELDS, false)).toBe("model");
  });

  test("the prefix reader and the scanner share the rule", () => {
    const body = enc('{"Model":"qwen2.5:7b","NAME":"x"}');
    expect(Object.fromEntries(topLevelStrings(body, ["model", "name"], { fold: true }))).toEqual({ model: "qwen2.5:7b", name: "x" });
    expect(topLevelStrings(body, ["model", "name"]).size).toBe(0);
    const scan = scanBody(body, { maxDepth: 8, fields: ["model", "name"], fold: true, strings: true });
    expect(scan.ok && [...scan.fields].map(([k, v]) => [k, v.value])).toEqual([
      ["model", "qwen2.5:7b"],
      ["name", "x"],
    ]);
  });

  test("the last of a field given in several spellings wins, as in Go, and says it was spelled two ways", () => {
    const scan = scanBody(enc('{"model":"a","Model":"b","name":"c","name":"d"}'), { maxDepth: 8, fields: FIELDS, fold: true, strings: true });
    if (!scan.ok) throw new Error("expected valid");
    expect(scan.fields.get("model")).toMatchObject({ value: "b", respelled: true });
    expect(scan.fields.get("name")).toMatchObject({ value: "d" });
    expect(scan.fields.get("name")!.respelled).toBeUndefined(); // the same key twice is not two spellings
  });
});
