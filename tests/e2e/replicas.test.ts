// Issue 27: three gateway processes share one Redis in front of one simulated machine.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { SSH_PASS, SUDO_PASS, tempDir, until } from "../helpers.ts";
import { hasRedis, type Redis, startRedis } from "../redis.ts";
import { leaderOf, type Replica, startReplica } from "../replicas.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const status = async (r: Replica) => (await (await r.api("/status")).json()) as { peticions_ollama: number; power_state?: string };
const shutdowns = (sim: SimulatedMachine) => sim.commands.filter((c) => /shutdown/.test(c.command)).length;

describe.skipIf(!hasRedis)(hasRedis ? "replicas sharing one Redis" : "replicas (skipped: redis-server is not installed)", () => {
  let redis: Redis;
  let sim: SimulatedMachine;
  let replicas: Replica[];
  // One webhook receiver for all three: each event must reach it once, from the replica that emitted it.
  const hooks: { type: string; machine: string; replica?: string; data: Record<string, unknown> }[] = [];
  let hook: ReturnType<typeof Bun.serve>;

  beforeAll(async () => {
    hook = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: async (req) => {
        hooks.push((await req.json()) as (typeof hooks)[number]);
        return new Response("ok");
      },
    });
    cleanups.push(() => hook.stop(true));
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    redis = await startRedis(dir);
    cleanups.push(() => redis.stop());
    sim = await new SimulatedMachine({ sshUser: "ia", sshPassword: SSH_PASS, sudoPassword: SUDO_PASS, bootDelayMs: 300 }).start();
    cleanups.push(() => sim.stop());
    const o = { redisUrl: redis.url, sim, env: { LEASE_TTL_S: "0", WEBHOOK_URLS: `http://127.0.0.1:${hook.port}/hook`, WEBHOOK_EVENTS: "all" } };
    replicas = await Promise.all(["gw-a", "gw-b", "gw-c"].map((n) => startReplica(n, o, cleanups)));
    await until(async () => (await leaderOf(replicas)) !== null, 15_000);
  });

  test("300 /arrancar over three replicas: 300 leases on each, one magic packet; 300 /apagar: one shutdown", async () => {
    const taken = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        replicas[i % 3]!.api("/arrancar", { method: "POST" }).then(async (r) => [r.status, await r.text()] as const),
      ),
    );
    expect(taken.filter(([s]) => s !== 200)).toEqual([]);
    for (const r of replicas) expect((await status(r)).peticions_ollama).toBe(300);
    await until(async () => (await status(replicas[0]!)).power_state === "on", 15_000);
    expect(sim.packets.length).toBe(1);
    const released = await Promise.all(
      Array.from({ length: 300 }, (_, i) => replicas[i % 3]!.api("/apagar", { method: "POST" }).then((r) => r.status)),
    );
    expect(released.filter((s) => s !== 200)).toEqual([]);
    for (const r of replicas) expect((await status(r)).peticions_ollama).toBe(0);
    await until(() => shutdowns(sim) === 1, 15_000);
    await until(async () => (await status(replicas[1]!)).power_state === "off", 15_000);
    expect(shutdowns(sim)).toBe(1);
    expect(sim.packets.length).toBe(1);
  }, 60_000);

  test("a follower under load while the machine sleeps, three times: 150 leases and 20 generations each, every generation served, one packet each", async () => {
    const leader = await leaderOf(replicas);
    const f = replicas.find((r) => r.name !== leader)!;
    const body = JSON.stringify({ model: "llama3.2:3b", prompt: "hi", stream: false });
    for (let round = 1; round <= 3; round++) {
      const packets = sim.packets.length;
      const leases = Array.from({ length: 150 }, () => f.api("/arrancar", { method: "POST" }).then((r) => r.status));
      const generations = await Promise.all(Array.from({ length: 20 }, () => f.api("/api/generate", { method: "POST", body }).then((r) => r.status)));
      expect(generations).toEqual(Array(20).fill(200));
      expect((await Promise.all(leases)).filter((s) => s !== 200)).toEqual([]);
      expect(sim.packets.length).toBe(packets + 1);
      // Everything dropped at once, and the machine off again for the next round.
      expect((await f.api("/shutdown", { method: "POST" })).status).toBe(200);
      await sim.waitFor("off");
      await until(async () => (await status(f)).power_state === "off", 15_000);
    }
  }, 90_000);

  test("/events on B shows A's events with A's name; a webhook gets each event once; /usage and /debug agree", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const history = async (r: Replica) =>
      ((await (await r.api("/events/history")).json()) as { events: { type: string; replica?: string; data: Record<string, unknown> }[] }).events;
    const taken = (await (await a.api("/arrancar", { method: "POST" })).json()) as { lease_id: string };
    const fromA = (e: { type: string; replica?: string; data: Record<string, unknown> }) =>
      e.type === "lease_taken" && e.replica === "gw-a" && e.data.lease_id === taken.lease_id;
    await until(async () => (await history(b)).some(fromA));
    await until(async () => (await history(c)).some(fromA));
    await until(() => hooks.some(fromA));
    expect((await (await a.api(`/apagar?lease_id=${taken.lease_id}`, { method: "POST" })).json()) as object).toMatchObject({ success: true });
    await until(() => hooks.some((e) => e.type === "lease_released" && e.data.lease_id === taken.lease_id));
    // Every event the replicas sent reached the hook once: no lease id twice for one type.
    const seen = hooks.map((e) => `${e.type}:${String(e.data.lease_id ?? "")}:${JSON.stringify(e.data)}`);
    expect(hooks.filter(fromA)).toHaveLength(1);
    expect(new Set(seen.filter((x) => x.startsWith("lease_taken"))).size).toBe(seen.filter((x) => x.startsWith("lease_taken")).length);
    // The heartbeats: every replica lists all three as alive.
    for (const r of replicas) {
      const debug = (await (await r.api("/debug")).json()) as { replicas: { name: string; alive: boolean }[] };
      expect(
        debug.replicas
          .filter((x) => x.alive)
          .map((x) => x.name)
          .sort(),
      ).toEqual(["gw-a", "gw-b", "gw-c"]);
    }
    // A generation on A and one on B: every replica's /usage counts both.
    const span = `from=${new Date(Date.now() - 3_600_000).toISOString()}&to=${new Date(Date.now() + 3_600_000).toISOString()}`;
    const totals = async (r: Replica) => ((await (await r.api(`/usage?${span}`)).json()) as { totals: { requests: number } }).totals;
    const before = (await totals(a)).requests;
    for (const r of [a, b]) {
      const res = await r.api("/api/generate", { method: "POST", body: JSON.stringify({ model: "llama3.2:3b", prompt: "hi", stream: false }) });
      expect(res.status).toBe(200);
      await res.text();
    }
    await until(async () => (await Promise.all(replicas.map(totals))).every((t) => t.requests === before + 2));
    const all = await Promise.all(
      replicas.map(async (r) => JSON.stringify(((await (await r.api(`/usage?${span}`)).json()) as { rows: unknown }).rows)),
    );
    expect(new Set(all).size).toBe(1);
  }, 60_000);

  test("a stream on one replica holds off a shutdown asked for on another; killing that replica lets it go after the TTL", async () => {
    const leader = await leaderOf(replicas);
    const [a, b] = replicas.filter((r) => r.name !== leader) as [Replica, Replica];
    const lease = (await (await b.api("/arrancar?wait=true", { method: "POST" })).json()) as { lease_id: string };
    await sim.waitFor("on");
    const before = shutdowns(sim);
    // An endless generation through A: it runs until A dies.
    const stream = await a.api("/api/generate", { method: "POST", body: JSON.stringify({ model: "endless", prompt: "x" }) });
    const reader = stream.body!.getReader();
    await reader.read();
    const released = (await (await b.api(`/apagar?lease_id=${lease.lease_id}`, { method: "POST" })).json()) as Record<string, unknown>;
    expect(released).toMatchObject({ shutdown_sent: false, shutdown_deferred: true });
    expect(shutdowns(sim)).toBe(before);
    const killedAt = Date.now();
    await a.kill();
    await reader.cancel().catch(() => {});
    await until(() => shutdowns(sim) === before + 1, 15_000);
    // Not before A's count ran out (LEADER_TTL_S is 1 s here).
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(900);
    await sim.waitFor("off");
    replicas = replicas.filter((r) => r !== a);
  }, 60_000);
});

describe.skipIf(!hasRedis)(hasRedis ? "the leader killed during a wake" : "leader failover (skipped: redis-server is not installed)", () => {
  test("another replica carries the wake on, resends the packet only when WOL_RETRY_S is due, and the waiting requests are served", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const redis = await startRedis(dir);
    cleanups.push(() => redis.stop());
    // The first packet is lost: only a resend wakes it, WOL_RETRY_S after the first.
    const sim = await new SimulatedMachine({
      sshUser: "ia",
      sshPassword: SSH_PASS,
      sudoPassword: SUDO_PASS,
      bootDelayMs: 200,
      ignorePackets: 1,
    }).start();
    cleanups.push(() => sim.stop());
    const o = { redisUrl: redis.url, sim, env: { WOL_RETRY_S: "4", WAKE_TIMEOUT_S: "60" } };
    const replicas = await Promise.all(["gw-a", "gw-b", "gw-c"].map((n) => startReplica(n, o, cleanups)));
    await until(async () => (await leaderOf(replicas)) !== null, 15_000);
    const leaderName = (await leaderOf(replicas))!;
    const leader = replicas.find((r) => r.name === leaderName)!;
    // The lock itself, as Redis holds it: the leader's name and its process's part.
    const lock = new RedisClient(redis.url);
    cleanups.push(() => lock.close());
    const holder = async () => ((await lock.get("ollama-gate:leader:default")) ?? "").replace(/#[^#]*$/, "");
    expect(await holder()).toBe(leaderName);
    const [f1, f2] = replicas.filter((r) => r !== leader) as [Replica, Replica];
    const taken = await f1.api("/arrancar", { method: "POST" });
    expect(taken.status).toBe(200);
    await until(() => sim.packets.length === 1);
    const firstAt = Date.now();
    await leader.kill();
    // Requests on both survivors wait for the wake the dead leader began.
    const waiting = [
      f1.api("/machines/default/ready"),
      f2.api("/api/generate", { method: "POST", body: JSON.stringify({ model: "llama3.2:3b", prompt: "hi", stream: false }) }),
    ];
    await until(() => sim.packets.length === 2, 15_000);
    const resentAfter = Date.now() - firstAt;
    const answers = await Promise.all(waiting);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    expect(sim.packets.length).toBe(2);
    // The resend came when the dead leader's wake made it due, not at once on the take-over.
    expect(resentAfter).toBeGreaterThanOrEqual(3500);
    const newLeader = await leaderOf([f1, f2]);
    expect([f1.name, f2.name]).toContain(newLeader ?? "none");
    expect(await holder()).toBe(newLeader!);
  }, 60_000);
});

describe.skipIf(!hasRedis)(hasRedis ? "Redis away and back" : "Redis away (skipped: redis-server is not installed)", () => {
  test("503 with Retry-After while it is away, nothing done; a machine known on is still served; back without a restart, no lease lost", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const redis = await startRedis(dir, { appendonly: true });
    cleanups.push(() => redis.stop());
    const sim = await new SimulatedMachine({ sshUser: "ia", sshPassword: SSH_PASS, sudoPassword: SUDO_PASS, bootDelayMs: 100 }).start({ on: true });
    cleanups.push(() => sim.stop());
    const replicas = await Promise.all(
      ["gw-a", "gw-b"].map((n) => startReplica(n, { redisUrl: redis.url, sim, env: { LEASE_TTL_S: "0" } }, cleanups)),
    );
    await until(async () => (await leaderOf(replicas)) !== null, 15_000);
    await until(async () => (await status(replicas[1]!)).power_state === "on", 15_000);
    const acknowledged = await Promise.all(replicas.map((r) => r.api("/arrancar", { method: "POST" }).then((res) => res.status)));
    expect(acknowledged).toEqual([200, 200]);
    const packets = sim.packets.length;
    const commands = sim.commands.length;

    // Frozen (a cut network): no answer at all. A lease waits out the 2 s a command may take, then 503.
    redis.freeze();
    const frozen = await replicas[0]!.api("/arrancar", { method: "POST" });
    expect(frozen.status).toBe(503);
    const served = await replicas[1]!.api("/api/generate", {
      method: "POST",
      body: JSON.stringify({ model: "llama3.2:3b", prompt: "hi", stream: false }),
    });
    expect(served.status).toBe(200);
    redis.thaw();
    for (const r of replicas) await until(async () => (await r.api("/arrancar", { method: "POST" })).status === 200, 20_000);
    for (const r of replicas) expect((await status(r)).peticions_ollama).toBe(4);

    await redis.stop();
    for (const r of replicas) {
      const lease = await r.api("/arrancar", { method: "POST" });
      expect(lease.status).toBe(503);
      expect(Number(lease.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(((await lease.json()) as { detail: string }).detail).toContain("state store");
      expect((await r.api("/apagar", { method: "POST" })).status).toBe(503);
      expect((await r.api("/shutdown", { method: "POST" })).status).toBe(503);
      // The machine was on when last seen: Ollama is still served.
      const chat = await r.api("/api/generate", { method: "POST", body: JSON.stringify({ model: "llama3.2:3b", prompt: "hi", stream: false }) });
      expect(chat.status).toBe(200);
      expect(((await (await r.api("/", { headers: { Accept: "application/json" } })).json()) as { state_store: string }).state_store).toBe(
        "unreachable",
      );
    }
    expect(sim.packets.length).toBe(packets);
    expect(sim.commands.length).toBe(commands);

    await redis.start();
    for (const r of replicas) await until(async () => (await r.api("/arrancar", { method: "POST" })).status === 200, 20_000);
    // The four leases acknowledged before the outage, and one taken on each replica after it.
    for (const r of replicas) expect((await status(r)).peticions_ollama).toBe(6);
    for (const r of replicas) expect(((await (await r.api("/")).json()) as { state_store: string }).state_store).toBe("reachable");
    expect(sim.commands.length).toBe(commands);
  }, 90_000);
});
