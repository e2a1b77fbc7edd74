// Each power state and shutdown reason is spelled out in one source file, so adding one is one line there
// and tsc shows every place that must decide what it means. This test finds a word spelled out elsewhere.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { POWER_STATES, SHUTDOWN_REASONS } from "../../../src/core/power/states.ts";

const SRC = join(import.meta.dir, "..", "..", "..", "src");
// The simulated hardware has states of its own, env-fields.ts reads "on"/"off" as the words of a flag, and the
// Home Assistant bridge names its topics, commands and routes ("on", "release"): words of MQTT, not states or reasons.
const OTHER_VOCABULARIES = ["sim/", "config/env-fields.ts", "core/homeassistant/"];

const withoutComments = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");

test.each([...POWER_STATES, ...SHUTDOWN_REASONS])("%s is spelled out only in core/power/states.ts", (word) => {
  const files = [...new Bun.Glob("**/*.ts").scanSync(SRC)].filter((f) => !OTHER_VOCABULARIES.some((o) => f.startsWith(o)));
  const quoted = new RegExp(`["'\`]${word}["'\`]`);
  const spelled = files.filter((f) => quoted.test(withoutComments(readFileSync(join(SRC, f), "utf8"))));
  expect(spelled.map((f) => relative(SRC, join(SRC, f)))).toEqual(["core/power/states.ts"]);
});
