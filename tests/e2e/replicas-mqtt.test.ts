// Issue 27 with Home Assistant: among replicas one bridge runs at a time (one availability topic, each button pressed
// once), and when its gateway dies another takes it over.
import { afterAll, describe, expect, test } from "bun:test";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { SSH_PASS, SUDO_PASS, tempDir, until } from "../helpers.ts";
import { hasMosquitto, reader, startBroker } from "../mosquitto.ts";
import { hasRedis, startRedis } from "../redis.ts";
import { type Replica, startReplica } from "../replicas.ts";

const SKIP = !hasRedis ? "redis-server is not installed" : !hasMosquitto ? "mosquitto is not installed" : "";
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const RUNS = /this replica runs it now","what":"home-assistant"/;

describe.skipIf(Boolean(SKIP))(SKIP ? `Home Assistant among replicas (skipped: ${SKIP})` : "Home Assistant among replicas", () => {
  test("one bridge among two gateways; the gateway running it killed, the other takes it over and says online", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const redis = await startRedis(dir);
    cleanups.push(() => redis.stop());
    const broker = await startBroker(dir);
    cleanups.push(() => broker.stop());
    const sim = await new SimulatedMachine({ sshUser: "ia", sshPassword: SSH_PASS, sudoPassword: SUDO_PASS, bootDelayMs: 100 }).start({ on: true });
    cleanups.push(() => sim.stop());
    const ha = await reader(broker.url, ["ollama-gate/#"]);
    cleanups.push(() => ha.close());
    const env = { MQTT_URL: broker.url };
    const replicas = await Promise.all(["gw-a", "gw-b"].map((n) => startReplica(n, { redisUrl: redis.url, sim, env }, cleanups)));
    await ha.next((m) => m.topic === "ollama-gate/status" && m.payload === "online", 15_000);
    await until(() => replicas.some((r) => RUNS.test(r.output())), 15_000);
    const running = replicas.filter((r) => RUNS.test(r.output()));
    expect(running.map((r) => r.name)).toHaveLength(1);
    const [holder] = running as [Replica];
    const other = replicas.find((r) => r !== holder)!;
    const from = ha.seen.length;
    await holder.kill();
    // Its will says offline; the other gateway takes the bridge over and says online again.
    await ha.next((m) => m.topic === "ollama-gate/status" && m.payload === "offline", 15_000, from);
    await other.line(RUNS);
    await ha.next((m) => m.topic === "ollama-gate/status" && m.payload === "online", 15_000, from);
    // And it runs the buttons: Wake takes the one lease Home Assistant holds (pressed again until the bridge's
    // subscription, made as it connects, has heard it: a second press only wakes the machine again).
    let heard = false;
    for (let press = 0; press < 10 && !heard; press++) {
      const before = ha.seen.length;
      await ha.client.publishAsync("ollama-gate/default/wake/set", "PRESS");
      heard = await ha
        .next((m) => m.topic === "ollama-gate/default/leases" && m.payload === "1", 2000, before)
        .then(
          () => true,
          () => false,
        );
    }
    expect(((await (await other.api("/status")).json()) as { peticions_ollama: number }).peticions_ollama).toBe(1);
  }, 60_000);
});
