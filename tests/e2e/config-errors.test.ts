// Configuration errors that say where and how (issue 22, item 4): a YAML mistake in the machines or keys file
// by line and column, with the line and a caret; "did you mean" after an unknown key; a heading that names
// the file at fault and the README section that explains it.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/config.ts";
import { tempDir } from "../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function fileWith(text: string, name: string) {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const KEY = { API_KEYS: "a-key-of-my-own-7c1d" };
const ONE = { ...KEY, EQUIPO_IA: "127.0.0.1", IA_MAC: "aa:bb:cc:dd:ee:ff" };
const machines = (text: string) => parseConfig({ ...KEY, MACHINES_FILE: fileWith(text, "machines.yaml") });
const keys = (text: string, env: Record<string, string> = {}) => parseConfig({ ...ONE, ...env, KEYS_FILE: fileWith(text, "keys.yaml") });
const errorsOf = (r: ReturnType<typeof parseConfig>) => (r.ok ? [] : r.errors);

describe("a YAML mistake gives its line and column, the line, and a caret under the place", () => {
  const cases: [string, string, string][] = [
    [
      "a tab used for indentation",
      "machines:\n  - name: big\n\thost: 127.0.0.1\n",
      "MACHINES_FILE line 3, column 1: tabs are not allowed for indentation in YAML; use spaces\n    3 |  host: 127.0.0.1\n      | ^",
    ],
    [
      "a tab after spaces",
      "machines:\n  - name: big\n    host: 127.0.0.1\n  \t  mac: aabbccddeeff\n",
      "MACHINES_FILE line 4, column 3: tabs are not allowed for indentation in YAML; use spaces\n    4 |      mac: ************\n      |   ^",
    ],
    [
      "a missing colon",
      "machines:\n  - name: big\n    host 127.0.0.1\n    mac: aabbccddeeff\n",
      'MACHINES_FILE line 3, column 9: missing ":" after host?\n    3 |     host 127.0.0.1\n      |         ^',
    ],
    [
      "a missing colon after a key that opens a block",
      "machines\n  - name: big\n    host: 127.0.0.1\n",
      'MACHINES_FILE line 1, column 9: missing ":" after machines?\n    1 | machines\n      |         ^',
    ],
    [
      "a line indented too far",
      "machines:\n  - name: big\n     host: 127.0.0.1\n    mac: aabbccddeeff\n",
      "MACHINES_FILE line 3, column 6: this line's indentation does not line up with the lines above it\n    3 |      host: 127.0.0.1\n      |      ^",
    ],
    [
      "a line indented too little",
      "machines:\n  - name: big\n    host: 127.0.0.1\n   mac: aabbccddeeff\n",
      "MACHINES_FILE line 4, column 4: this line's indentation does not line up with the lines above it\n    4 |    mac: ************\n      |    ^",
    ],
    [
      "an unclosed quote",
      'machines:\n  - name: "big\n    host: 127.0.0.1\n',
      'MACHINES_FILE line 2, column 11: this " opens a quoted value that is not closed on its line\n    2 |   - name: "***\n      |           ^',
    ],
    [
      "an unclosed bracket",
      "machines:\n  - name: big\n    models: [llama3, qwen\n    host: 127.0.0.1\n",
      "MACHINES_FILE line 3, column 13: this [ is not closed on its line (] is missing)\n    3 |     models: [******, ****\n      |             ^",
    ],
    [
      "an unclosed brace, after a bracket that closes on a later line",
      "machines:\n  - name: big\n    models: [llama3,\n      qwen]\n    wol: { broadcast: 127.0.0.1\n    host: 127.0.0.1\n",
      "MACHINES_FILE line 5, column 10: this { is not closed on its line (} is missing)\n    5 |     wol: { broadcast: 127.0.0.1\n      |          ^",
    ],
  ];
  test.each(cases)("%s", (_what, text, expected) => {
    expect(errorsOf(machines(text))).toEqual([expected]);
  });

  test("in the keys file too, and with Windows line ends", () => {
    expect(errorsOf(keys('keys:\r\n  - name: ops\r\n    key "${OPS_KEY}"\r\n    role: admin\r\n'))).toEqual([
      'KEYS_FILE line 3, column 8: missing ":" after key?\n    3 |     key "${OPS_KEY}"\n      |        ^',
    ]);
  });

  test("the line shown never holds a secret written in the file: its values are masked, a key's and a password's too", () => {
    const secret = "sk-live-5f1e9c2b7a40d3";
    const cases = [
      [`keys:\n  - name: ops\n\tkey: "${secret}"\n    role: admin\n`, `    3 |  key: "${"*".repeat(secret.length)}"\n      | ^`],
      [
        `keys:\n  - { name: ops, key: "${secret}", role: admin\n`,
        `    2 |   - { name: ***, key: "${"*".repeat(secret.length)}", role: *****\n      |     ^`,
      ],
      [`keys:\n  - name: ops\n    key ${secret}\n`, `    3 |     key ${"*".repeat(secret.length)}\n      |        ^`],
    ];
    for (const [text, shown] of cases) {
      const [error] = errorsOf(keys(text!));
      expect(error).toEndWith(shown!);
      expect(error).not.toContain("sk-");
    }
    const [error] = errorsOf(machines(`machines:\n  - name: big\n    ssh: { user: ia, password: ${secret}\n`));
    expect(error).toContain("    3 |     ssh: { user: **, password: ");
    expect(error).not.toContain(secret);
  });
});

describe("an unknown key gets the nearest one the place takes", () => {
  test("in the machines file: a machine, its ssh, its power methods, its keep-on windows", () => {
    const text = `machines:
  - name: big
    host: 127.0.0.1
    mac: aabbccddeeff
    ollama_prot: 11434
    colour: blue
    ssh: { user: ia, pasword: x }
    wol: { brodcast: 127.0.0.255 }
    power_off: { htpp: { url: "http://127.0.0.1:9/off" } }
    keep_on: [{ name: work, cron: "0 8 * * *", for_min: 60, nmae: x }]
  - name: small
    host: 127.0.0.1
    power_on: { http: { url: "http://127.0.0.1:9/on", methd: GET } }
    power_off: nonee
`;
    expect(errorsOf(machines(text)).sort()).toEqual(
      [
        'MACHINES_FILE machines[0] (big): Unrecognized keys: "ollama_prot" (did you mean ollama_port?), "colour"',
        'MACHINES_FILE machines[0] (big).ssh: Unrecognized key: "pasword" (did you mean password?)',
        'MACHINES_FILE machines[0] (big).wol: Unrecognized key: "brodcast" (did you mean broadcast?)',
        "MACHINES_FILE machines[0] (big).power_off: expected ssh, none, { http: { url, method, headers, body } } or { command: [program, arguments…] } (did you mean http?)",
        'MACHINES_FILE machines[0] (big).keep_on[0]: Unrecognized key: "nmae" (did you mean name?)',
        'MACHINES_FILE machines[1] (small).power_on.http: Unrecognized key: "methd" (did you mean method?)',
        "MACHINES_FILE machines[1] (small).power_off: expected ssh, none, { http: { url, method, headers, body } } or { command: [program, arguments…] } (did you mean none?)",
      ].sort(),
    );
  });

  test("in the keys file, in KEEP_ON_SCHEDULE and in WEBHOOK_EVENTS", () => {
    expect(errorsOf(keys('keys:\n  - { name: ops, key: "${OPS_KEY}", rol: admin }\n', { OPS_KEY: "ops-key-of-my-own-1a2b" }))).toEqual([
      "KEYS_FILE keys[0] (ops).role: expected one of admin, user, inference",
      'KEYS_FILE keys[0] (ops): Unrecognized key: "rol" (did you mean role?)',
    ]);
    expect(errorsOf(parseConfig({ ...ONE, KEEP_ON_SCHEDULE: '{cron: "0 8 * * *", for_mins: 60, name: w}' }))).toContain(
      'KEEP_ON_SCHEDULE: [0] (w): Unrecognized key: "for_mins" (did you mean for_min?)',
    );
    expect(errorsOf(parseConfig({ ...ONE, WEBHOOK_EVENTS: "wake_sent,powr" })).join("\n")).toContain(
      'unknown event type "powr" (did you mean power?)',
    );
  });
});

test("a problem's heading names the file at fault and where the README explains it", async () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const file = join(dir, "machines.yaml");
  writeFileSync(file, "machines:\n  - name: big\n\thost: 127.0.0.1\n");
  const run = async (env: Record<string, string>) => {
    const proc = Bun.spawn([process.execPath, join(import.meta.dir, "..", "..", "src", "index.ts")], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, HOST: "127.0.0.1", PORT: "0", ...env },
      stdout: "pipe",
      stderr: "pipe",
    });
    const deadline = setTimeout(() => proc.kill(), 20_000);
    const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(deadline);
    return { err, code };
  };
  const bad = await run({ ...KEY, MACHINES_FILE: file });
  expect(bad.code).toBe(2);
  expect(bad.err).toBe(
    `ollama-gate: invalid machines file ${file} (see "Several machines" in README.md):\n` +
      "  - MACHINES_FILE line 3, column 1: tabs are not allowed for indentation in YAML; use spaces\n" +
      "    3 |  host: 127.0.0.1\n" +
      "      | ^\n",
  );
  writeFileSync(file, "keys:\n  - { name: ops, key: short, role: admin }\n");
  const badKeys = await run({ ...ONE, KEYS_FILE: file });
  expect(badKeys.err).toStartWith(`ollama-gate: invalid keys file ${file} (see "Named keys" in README.md):\n`);
  const badEnv = await run({ ...ONE, PORT: "70000" });
  expect(badEnv.err).toStartWith("ollama-gate: invalid configuration (see .env.example):\n");
});
