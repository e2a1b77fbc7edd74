// A KEYS_FILE reload ends the dashboard sessions it takes the dashboard from: the key is gone, or demoted to a
// role that only runs models. The sessions of the keys that keep it stay open.
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Harness, startHarness, tempDir } from "../helpers.ts";

const ADMIN = "admin-key-reload-0123456789";
const ALICE = "alice-key-reload-0123456789";
const BOB = "bob-key-reload-0123456789";
const keysFile = (alice: string, bob: string) => `keys:
  - { name: ops, key: ${ADMIN}, role: admin }
  - { name: alice, key: ${ALICE}, role: ${alice} }
${bob}`;

let h: Harness;
let cleanup = () => {};
afterEach(async () => {
  await h?.close();
  cleanup();
});

async function login(key: string): Promise<string> {
  const res = await fetch(`${h.url}/ui/login`, {
    method: "POST",
    body: new URLSearchParams({ key }),
    headers: { origin: h.url, "sec-fetch-site": "same-origin" },
    redirect: "manual",
  });
  expect(res.status).toBe(303);
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

const machines = (cookie: string) => fetch(`${h.url}/machines`, { headers: { cookie, "sec-fetch-site": "same-origin" } });

test("a reload ends the sessions of a removed key and of a key demoted to inference, at once and only those", async () => {
  const dir = tempDir();
  cleanup = dir.cleanup;
  const file = join(dir.dir, "keys.yaml");
  writeFileSync(file, keysFile("user", `  - { name: bob, key: ${BOB}, role: user }\n`));
  h = await startHarness({ on: true, env: { KEYS_FILE: file } });
  const [admin, alice, bob] = [await login(ADMIN), await login(ALICE), await login(BOB)];
  for (const cookie of [admin, alice, bob]) expect((await machines(cookie)).status).toBe(200);
  expect(h.deps.ui.sessions.size).toBe(3);

  writeFileSync(file, keysFile("inference", ""));
  const ended = h.logLine((l) => l.includes("dashboard sessions ended"));
  expect(h.deps.keys.reload({})).toBe(true);
  // Gone from the store by the reload itself, not at their next use.
  expect(h.deps.ui.sessions.size).toBe(1);
  expect(JSON.parse(await ended).sessions).toBe(2);
  expect((await machines(alice)).status).toBe(401);
  expect((await machines(bob)).status).toBe(401);
  expect((await machines(admin)).status).toBe(200);
  // Written down too: a restart does not bring them back.
  await h.deps.ui.sessions.flushed();
  const saved = JSON.parse(await Bun.file(join(h.dir, "sessions.json")).text());
  expect(Object.keys(saved.sessions)).toHaveLength(1);
});
