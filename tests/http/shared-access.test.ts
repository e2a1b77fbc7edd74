// Two gateways (replicas) in front of one simulated machine, sharing their sessions, login limits and key limits
// through a real redis-server on loopback (buildSharedAccess, as deps.ts wires it with STATE_URL), through real
// sockets: a session made on A opens B and ends there for both; a key's rate_per_min counts on both; wrong keys
// count on both; with Redis frozen, what needs the shared truth is a 503 with Retry-After, while a key that worked
// goes on being served. Without STATE_URL nothing is a promise: one gateway's checks cost no extra turn.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { accessOptions, createApp } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { secretsOf } from "../../src/config/view.ts";
import { KeyLimiter } from "../../src/core/access/limits.ts";
import { SessionStore } from "../../src/core/access/sessions.ts";
import { endpointFor } from "../../src/core/proxy/endpoints.ts";
import { SharedStore } from "../../src/core/replica/store.ts";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import { buildDeps } from "../../src/deps.ts";
import { accessCheck } from "../../src/http/auth.ts";
import { serve } from "../../src/http/server.ts";
import { buildSharedAccess } from "../../src/http/shared-access.ts";
import { LOGIN_ATTEMPTS_PER_MIN, LoginRate, LoginThrottle } from "../../src/http/throttle.ts";
import { admitKey } from "../../src/routes/ollama/share.ts";
import { simEnv } from "../../src/sim/env.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { json, tempDir, until } from "../helpers.ts";
import { hasRedis, REDIS_SERVER, type Redis, startRedis } from "../redis.ts";

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;
const ADMIN = "admin-key-shared-0123456789";
const RATED = "rated-key-shared-0123456789";
const KEYS = `keys:
  - { name: ops, key: ${ADMIN}, role: admin }
  - { name: rated, key: ${RATED}, role: inference, rate_per_min: 3 }
`;
const MODEL = "llama3.2:3b";
const SAME_SITE = { "sec-fetch-site": "same-origin" };

describe.skipIf(Boolean(SKIP))(SKIP ? `two gateways share access (skipped: ${SKIP})` : "two gateways share access", () => {
  let redis: Redis;
  let sim: SimulatedMachine;
  const urls: string[] = [];
  const ends: (() => unknown)[] = [];

  /** One replica: the gateway as buildDeps makes it, its access shared through its own link to Redis. */
  async function gateway(dir: string) {
    const env = simEnv(sim, { KEYS_FILE: join(dir, "keys.yaml"), STATUS_FILE: join(dir, "status.json"), SSH_USER: "ia", SSH_PASS: "x" });
    const parsed = parseConfig(env);
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    const logger = memoryLogger(secretsOf(parsed.config));
    const deps = buildDeps(parsed.config, { logger, fastPollMs: 40 });
    const store = new SharedStore({ url: redis.url, prefix: "gw:", logger, commandTimeoutMs: 300 });
    store.start();
    await store.ready();
    const shared = buildSharedAccess(store, { identities: () => deps.keys.ring.identities, logger });
    deps.ui = shared.ui;
    deps.limits = shared.limits;
    await shared.limits.follow(deps.keys.ring.keys, () => new Map());
    await deps.monitor.tick();
    const server = serve(createApp(deps), { hostname: "127.0.0.1", port: 0 });
    ends.push(async () => {
      server.stop(true);
      shared.limits.stop();
      store.stop();
      await deps.monitor.stop();
      deps.usageStore.close();
    });
    return `http://127.0.0.1:${server.port}`;
  }

  beforeAll(async () => {
    const { dir, cleanup } = tempDir("ollama-gate-shared-");
    ends.push(cleanup);
    redis = await startRedis(dir);
    ends.push(() => redis.stop());
    sim = await new SimulatedMachine({ sshUser: "ia", sshPassword: "x", bootDelayMs: 100 }).start({ on: true });
    ends.push(() => sim.stop());
    writeFileSync(join(dir, "keys.yaml"), KEYS);
    urls.push(await gateway(dir), await gateway(dir));
  });
  afterAll(async () => {
    for (const end of ends.reverse()) await end();
  });

  const login = (url: string, key: string) =>
    fetch(`${url}/ui/login`, { method: "POST", body: new URLSearchParams({ key }), redirect: "manual", headers: { origin: url, ...SAME_SITE } });
  const page = (url: string, cookie: string) => fetch(`${url}/ui`, { headers: { cookie } });
  const show = (url: string, key: string) =>
    fetch(`${url}/api/show`, { method: "POST", headers: { authorization: `Bearer ${key}` }, body: JSON.stringify({ model: MODEL }) });

  test("a session made on A opens B's dashboard and routes; logged out on B, it is over on A", async () => {
    const [a, b] = urls as [string, string];
    const res = await login(a, ADMIN);
    expect(res.status).toBe(303);
    const cookie = res.headers.get("set-cookie")!.split(";")[0]!;
    expect(await (await page(b, cookie)).text()).toContain('id="logout"');
    const me = await fetch(`${b}/keys/me`, { headers: { cookie, ...SAME_SITE } });
    expect(me.status).toBe(200);
    expect((await json(me)).name).toBe("ops");
    expect((await fetch(`${b}/ui/logout`, { method: "POST", headers: { cookie, origin: b, ...SAME_SITE }, redirect: "manual" })).status).toBe(303);
    expect(await (await page(a, cookie)).text()).toContain('id="login"');
    expect((await fetch(`${a}/keys/me`, { headers: { cookie, ...SAME_SITE } })).status).toBe(401);
  });

  test("a key's rate_per_min counts its requests on both gateways; /keys/me on either reads the shared bucket", async () => {
    const [a, b] = urls as [string, string];
    for (const url of [a, b, a]) expect((await show(url, RATED)).status).toBe(200);
    for (const url of [a, b]) {
      const no = await show(url, RATED);
      expect(no.status).toBe(429);
      expect(no.headers.get("retry-after")).toBe("20");
      expect((await json(no)).error).toContain("rate_per_min");
    }
    const me = await json(fetch(`${b}/keys/me`, { headers: { authorization: `Bearer ${RATED}` } }));
    expect(me.left.requests_left_this_min).toBe(0);
  });

  test("Redis frozen: a login, a session, a limited key and a wrong key get 503 with Retry-After; a key that worked is served", async () => {
    const [a, b] = urls as [string, string];
    const cookie = (await login(a, ADMIN)).headers.get("set-cookie")!.split(";")[0]!;
    redis.freeze();
    try {
      const loginAway = await login(b, ADMIN);
      expect(loginAway.status).toBe(503);
      expect(loginAway.headers.get("retry-after")).toBe("5");
      expect(await loginAway.text()).toContain("cannot reach its shared state");
      expect((await page(b, cookie)).status).toBe(503);
      const limited = await show(a, RATED);
      expect(limited.status).toBe(503);
      expect((await json(limited)).detail).toContain("state store (Redis) is unreachable");
      expect((await show(b, "not-a-key")).status).toBe(503); // no 401: a wrong key must not be told from a right one
      expect((await show(a, ADMIN)).status).toBe(200); // it worked from here on a (the login): a fact, no question asked
      expect((await show(b, ADMIN)).status).toBe(503); // b has not seen it work from here: the shared count is needed
    } finally {
      redis.thaw();
    }
    await Promise.all(urls.map((url) => until(async () => (await page(url, cookie)).status === 200, 10_000)));
    expect(await (await page(b, cookie)).text()).toContain('id="logout"');
  });

  test("wrong keys spread over both gateways are throttled as one; the key that worked from here still passes", async () => {
    const [a, b] = urls as [string, string];
    for (let i = 0; i < LOGIN_ATTEMPTS_PER_MIN; i++) expect((await show(i % 2 ? a : b, `wrong-${i}`)).status).toBe(401);
    for (const url of [a, b]) {
      const no = await show(url, "wrong-again");
      expect(no.status).toBe(429);
      expect(Number(no.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await login(url, "wrong-again")).status).toBe(429);
    }
    expect((await show(a, ADMIN)).status).toBe(200);
  });
});

test("one gateway (no STATE_URL): the file store and the counts in memory, and no check is a promise", async () => {
  const { dir, cleanup } = tempDir("ollama-gate-shared-");
  const sim = await new SimulatedMachine({ sshUser: "ia", sshPassword: "x" }).start({ on: true });
  try {
    writeFileSync(join(dir, "keys.yaml"), KEYS);
    const parsed = parseConfig(
      simEnv(sim, { KEYS_FILE: join(dir, "keys.yaml"), STATUS_FILE: join(dir, "status.json"), SSH_USER: "ia", SSH_PASS: "x" }),
    );
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    const deps = buildDeps(parsed.config, { logger: memoryLogger() });
    expect(deps.ui.sessions).toBeInstanceOf(SessionStore);
    expect(deps.ui.throttle).toBeInstanceOf(LoginThrottle);
    expect(deps.ui.logins).toBeInstanceOf(LoginRate);
    expect(deps.limits).toBeInstanceOf(KeyLimiter);
    const check = accessCheck(accessOptions(deps));
    const asked = (key: string, cookie = "") =>
      check(
        new Request("http://gw/api/show", { method: "POST", headers: { authorization: `Bearer ${key}`, cookie } }),
        "/api/show",
        () => "10.0.0.1",
      );
    for (const access of [asked(RATED), asked("wrong"), asked("", "og_session=nothing")]) expect(access).not.toBeInstanceOf(Promise);
    const rated = deps.keys.ring.match(RATED);
    expect(admitKey(deps, rated, "/api/show", endpointFor("POST", "/api/show"))).not.toBeInstanceOf(Promise);
    deps.usageStore.close();
  } finally {
    await sim.stop();
    cleanup();
  }
});
