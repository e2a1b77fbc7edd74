// Issue 27: what two gateway processes share through Redis besides the machine: the dashboard's sessions, a key's
// rate_per_min and token quota, and a machine's max_concurrent.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { SSH_PASS, SUDO_PASS, tempDir, until } from "../helpers.ts";
import { hasRedis, type Redis, startRedis } from "../redis.ts";
import { leaderOf, type Replica, startReplica } from "../replicas.ts";

const ADMIN = "admin-key-replicas-0123456789";
const RATED = "rated-key-replicas-0123456789";
const QUOTA = "quota-key-replicas-0123456789";
const KEYS = `keys:
  - { name: ops, key: ${ADMIN}, role: admin }
  - { name: rated, key: ${RATED}, role: inference, rate_per_min: 3 }
  - { name: metered, key: ${QUOTA}, role: inference, tokens_per_day: 5 }
`;
const SAME_SITE = { "sec-fetch-site": "same-origin" };

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const generate = (r: Replica, key: string, model = "llama3.2:3b", stream = false) =>
  fetch(`${r.url}/api/generate`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, prompt: "hi", stream }),
  });

describe.skipIf(!hasRedis)(
  hasRedis ? "two gateway processes share access and slots" : "shared access (skipped: redis-server is not installed)",
  () => {
    let redis: Redis;
    let sim: SimulatedMachine;
    let a: Replica;
    let b: Replica;

    beforeAll(async () => {
      const { dir, cleanup } = tempDir();
      cleanups.push(cleanup);
      redis = await startRedis(dir);
      cleanups.push(() => redis.stop());
      sim = await new SimulatedMachine({ sshUser: "ia", sshPassword: SSH_PASS, sudoPassword: SUDO_PASS, bootDelayMs: 100 }).start({ on: true });
      cleanups.push(() => sim.stop());
      await Bun.write(join(dir, "keys.yaml"), KEYS);
      const env = { KEYS_FILE: join(dir, "keys.yaml"), MAX_CONCURRENT: "1" };
      [a, b] = (await Promise.all(["gw-a", "gw-b"].map((n) => startReplica(n, { redisUrl: redis.url, sim, env }, cleanups)))) as [Replica, Replica];
      await until(async () => (await leaderOf([a, b])) !== null, 15_000);
      await until(async () => ((await (await a.api("/status")).json()) as { power_state: string }).power_state === "on", 15_000);
    });

    test("a session made on A opens B's dashboard; logged out on B, it is over on A", async () => {
      const login = await fetch(`${a.url}/ui/login`, {
        method: "POST",
        body: new URLSearchParams({ key: ADMIN }),
        redirect: "manual",
        headers: { origin: a.url, ...SAME_SITE },
      });
      expect(login.status).toBe(303);
      const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
      const page = (r: Replica) => fetch(`${r.url}/ui`, { headers: { cookie } }).then((res) => res.text());
      expect(await page(b)).not.toContain('id="login"');
      const out = await fetch(`${b.url}/ui/logout`, { method: "POST", redirect: "manual", headers: { cookie, origin: b.url, ...SAME_SITE } });
      expect(out.status).toBeLessThan(400);
      expect(await page(a)).toContain('id="login"');
    }, 30_000);

    test("rate_per_min counts on both: two requests on A and one on B, the fourth is refused on either", async () => {
      for (const r of [a, a, b]) expect((await generate(r, RATED)).status).toBe(200);
      const fourth = await generate(b, RATED);
      expect(fourth.status).toBe(429);
      expect(Number(fourth.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await generate(a, RATED)).status).toBe(429);
    }, 30_000);

    test("a token quota spent on B is spent on A", async () => {
      // Untouched so far: B lets the key through, and its answer counts more than the day's 5 tokens.
      const first = await generate(b, QUOTA);
      expect(first.status).toBe(200);
      await first.text();
      // Once B has counted them, A refuses the key too (it never served it).
      let refusal: Response | undefined;
      await until(async () => {
        const res = await generate(a, QUOTA);
        if (res.status !== 429) return false;
        refusal = res;
        return true;
      }, 10_000);
      expect(((await refusal!.json()) as { error: string }).error).toContain("tokens_per_day");
    }, 30_000);

    test("MAX_CONCURRENT=1 over both: a generation on B waits for the one running on A", async () => {
      const running = await generate(a, ADMIN, "endless", true);
      const reader = running.body!.getReader();
      await reader.read();
      const waiting = generate(b, ADMIN);
      await until(async () => ((await (await b.api("/machines/default")).json()) as { queue_length: number }).queue_length === 1, 10_000);
      let done = false;
      void waiting.then(() => (done = true));
      expect(done).toBe(false);
      await reader.cancel();
      const answer = await waiting;
      expect(answer.status).toBe(200);
    }, 30_000);
  },
);
