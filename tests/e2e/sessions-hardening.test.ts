// Dashboard logins under abuse (issue 21, items 1, 14 and 15): a valid key logging in again and again
// neither logs other keys out nor grows the session table; logins are rate-limited; an acknowledged
// session survives kill -9; a login form posted from another site sets no cookie.
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { MAX_SESSIONS_PER_KEY } from "../../src/core/access/sessions.ts";
import { LOGINS_PER_ADDRESS_PER_MIN, LOGINS_PER_KEY_PER_MIN } from "../../src/http/throttle.ts";
import { simEnv } from "../../src/sim/env.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { bunCommand, childEnv, type Harness, KEY, manualClock, ROOT, startHarness, tempDir } from "../helpers.ts";

const USER = "user-key-login-flood-01";
const OTHERS = ["other-key-login-02", "other-key-login-03", "other-key-login-04"];

let h: Harness | undefined;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const c of cleanups.splice(0).reverse()) await c();
});

const login = (url: string, key: string, headers: Record<string, string> = {}) =>
  fetch(url + "/ui/login", { method: "POST", body: new URLSearchParams({ key }), redirect: "manual", headers });
const cookieOf = (res: Response) => res.headers.get("set-cookie")?.split(";")[0] ?? "";
const opens = async (url: string, cookie: string) => (await fetch(url + "/machines", { headers: { cookie } })).status === 200;

/** A gateway with an admin key (KEY) and a user key, on a clock the test moves. */
async function withUserKey(env: Record<string, string> = {}) {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const keysFile = join(dir, "keys.yaml");
  await Bun.write(keysFile, `keys:\n  - { name: family, key: ${USER}, role: user }\n`);
  const clock = manualClock();
  h = await startHarness({ on: true, env: { KEYS_FILE: keysFile, ...env }, deps: { now: clock.now } });
  return { h, clock };
}

test("a user key logging in over and over ends only its own oldest sessions, never the admin's; it keeps at most its cap", async () => {
  const { h, clock } = await withUserKey();
  const admin = cookieOf(await login(h.url, KEY));
  expect(await opens(h.url, admin)).toBe(true);
  // More logins than the whole session table holds (it keeps 1,000), a minute's allowance at a time.
  const cookies: string[] = [];
  while (cookies.length < 1100) {
    const batch = await Promise.all(Array.from({ length: LOGINS_PER_KEY_PER_MIN }, () => login(h.url, USER)));
    for (const res of batch) {
      expect(res.status).toBe(303);
      cookies.push(cookieOf(res));
    }
    clock.advance(61_000);
  }
  expect(await opens(h.url, admin)).toBe(true);
  // The newest MAX_SESSIONS_PER_KEY of the user's sessions are open; the one before them was ended.
  const newest = cookies.slice(-MAX_SESSIONS_PER_KEY);
  expect((await Promise.all(newest.map((c) => opens(h.url, c)))).every(Boolean)).toBe(true);
  expect(await opens(h.url, cookies.at(-MAX_SESSIONS_PER_KEY - 1)!)).toBe(false);
  expect(await opens(h.url, cookies[0]!)).toBe(false);
  expect(h.deps.ui.sessions.size).toBe(MAX_SESSIONS_PER_KEY + 1);
});

test("logins past the rate get 429 with Retry-After and the form's message, per key and per address", async () => {
  const { h, clock } = await withUserKey({ API_KEYS: [KEY, ...OTHERS].join(",") });
  for (let i = 0; i < LOGINS_PER_KEY_PER_MIN; i++) expect((await login(h.url, USER)).status).toBe(303);
  const refused = await login(h.url, USER);
  expect(refused.status).toBe(429);
  expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(refused.headers.get("set-cookie")).toBeNull();
  expect(await refused.text()).toContain("Too many logins");
  // Another key from the same address still may, until the address has had its share.
  let sent = LOGINS_PER_KEY_PER_MIN;
  for (const key of [KEY, ...OTHERS]) {
    for (let i = 0; i < LOGINS_PER_KEY_PER_MIN && sent < LOGINS_PER_ADDRESS_PER_MIN; i++, sent++) {
      expect((await login(h.url, key)).status).toBe(303);
    }
  }
  const byAddress = await login(h.url, OTHERS.at(-1)!);
  expect(byAddress.status).toBe(429);
  expect(h.deps.ui.sessions.size).toBe(LOGINS_PER_ADDRESS_PER_MIN);
  clock.advance(61_000);
  expect((await login(h.url, USER)).status).toBe(303);
});

test("a login form posted from another site is a 403 and sets no cookie; the gateway's own page and curl log in", async () => {
  h = await startHarness({ on: true });
  const url = h.url;
  const foreign: Record<string, string>[] = [
    { "sec-fetch-site": "cross-site", origin: "http://127.0.0.9:9" },
    { "sec-fetch-site": "same-site" },
    { origin: "http://127.0.0.9:9" },
    { origin: "null" },
    { referer: "http://127.0.0.9:9/form" },
  ];
  for (const headers of foreign) {
    const res = await login(url, KEY, headers);
    expect(res.status).toBe(403);
    expect(res.headers.get("set-cookie")).toBeNull();
  }
  expect(h.deps.ui.sessions.size).toBe(0);
  const own: Record<string, string>[] = [{ "sec-fetch-site": "same-origin", origin: url }, { origin: url }, { referer: url + "/ui" }, {}];
  for (const headers of own) {
    const res = await login(url, KEY, headers);
    expect(res.status).toBe(303);
    expect(await opens(url, cookieOf(res))).toBe(true);
  }
});

/** `bun src/index.ts` in `dir`, in front of `sim`; resolves with its URL once it listens. */
async function gateway(sim: SimulatedMachine, dir: string) {
  const env = simEnv(sim, {
    API_KEYS: [KEY, ...OTHERS].join(","),
    STATUS_FILE: join(dir, "status.json"),
    HOST: "127.0.0.1",
    PORT: "0",
  });
  const proc = Bun.spawn(bunCommand(join(ROOT, "src", "index.ts")), { cwd: dir, env: childEnv(env, dir), stdout: "ignore", stderr: "pipe" });
  cleanups.push(async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  });
  const decoder = new TextDecoder();
  let out = "";
  for await (const chunk of proc.stderr) {
    out += decoder.decode(chunk);
    const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1];
    if (url) return { url, proc };
  }
  throw new Error(`the gateway ended before listening:\n${out}`);
}

test("every session a login acknowledged (303) survives kill -9 of the gateway", async () => {
  const sim = await new SimulatedMachine().start({ on: true });
  cleanups.push(() => sim.stop());
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const first = await gateway(sim, dir);
  // As many as the rate allows from one address, all at once: their writes are shared.
  const keys = [KEY, ...OTHERS].flatMap((k) => Array<string>(LOGINS_PER_KEY_PER_MIN).fill(k)).slice(0, LOGINS_PER_ADDRESS_PER_MIN);
  const answers = await Promise.all(keys.map((k) => login(first.url, k)));
  first.proc.kill("SIGKILL");
  await first.proc.exited;
  expect(answers.map((r) => r.status)).toEqual(keys.map(() => 303));
  const second = await gateway(sim, dir);
  const open = await Promise.all(answers.map((r) => opens(second.url, cookieOf(r))));
  expect(open.filter((o) => !o)).toHaveLength(0);
});

test("leases and permanent_on the gateway acknowledged survive kill -9 of it", async () => {
  const sim = await new SimulatedMachine().start({ on: true });
  cleanups.push(() => sim.stop());
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const first = await gateway(sim, dir);
  const post = (path: string, body: unknown) =>
    fetch(first.url + path, { method: "POST", headers: { "x-api-key": KEY, "content-type": "application/json" }, body: JSON.stringify(body) });
  const taken = await Promise.all(Array.from({ length: 20 }, (_, i) => post("/arrancar", { holder: `job-${i}` })));
  const permanent = await post("/machines/default/permanent_on", { enabled: true });
  first.proc.kill("SIGKILL");
  await first.proc.exited;
  expect(taken.map((r) => r.status)).toEqual(taken.map(() => 200));
  expect(permanent.status).toBe(200);
  const ids = (await Promise.all(taken.map((r) => r.json() as Promise<{ lease_id: string }>))).map((b) => b.lease_id);
  const second = await gateway(sim, dir);
  const leases = (await (await fetch(second.url + "/leases", { headers: { "x-api-key": KEY } })).json()) as { leases: { id: string }[] };
  expect(leases.leases.map((l) => l.id).sort()).toEqual(ids.sort());
  const machine = (await (await fetch(second.url + "/machines/default", { headers: { "x-api-key": KEY } })).json()) as Record<string, unknown>;
  expect(JSON.stringify(machine)).toContain('"permanent_on":true');
});
