// Issue 27: three gateway processes share one Redis in front of one simulated machine.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
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

  beforeAll(async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    redis = await startRedis(dir);
    cleanups.push(() => redis.stop());
    sim = await new SimulatedMachine({ sshUser: "ia", sshPassword: SSH_PASS, sudoPassword: SUDO_PASS, bootDelayMs: 300 }).start();
    cleanups.push(() => sim.stop());
    const o = { redisUrl: redis.url, sim, env: { LEASE_TTL_S: "0" } };
    replicas = await Promise.all(["gw-a", "gw-b", "gw-c"].map((n) => startReplica(n, o, cleanups)));
    await until(async () => (await leaderOf(replicas)) !== null, 15_000);
  });

  test("300 /arrancar over three replicas: 300 leases on each, one magic packet; 300 /apagar: one shutdown", async () => {
    const taken = await Promise.all(
      Array.from({ length: 300 }, (_, i) => replicas[i % 3]!.api("/arrancar", { method: "POST" }).then(async (r) => [r.status, await r.text()] as const)),
    );
    expect(taken.filter(([s]) => s !== 200)).toEqual([]);
    for (const r of replicas) expect((await status(r)).peticions_ollama).toBe(300);
    await until(async () => (await status(replicas[0]!)).power_state === "on", 15_000);
    expect(sim.packets.length).toBe(1);
    const released = await Promise.all(Array.from({ length: 300 }, (_, i) => replicas[i % 3]!.api("/apagar", { method: "POST" }).then((r) => r.status)));
    expect(released.filter((s) => s !== 200)).toEqual([]);
    for (const r of replicas) expect((await status(r)).peticions_ollama).toBe(0);
    await until(() => shutdowns(sim) === 1, 15_000);
    await until(async () => (await status(replicas[1]!)).power_state === "off", 15_000);
    expect(shutdowns(sim)).toBe(1);
    expect(sim.packets.length).toBe(1);
  }, 60_000);
});
