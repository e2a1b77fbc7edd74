// Commands from Home Assistant and the link's backoff, against fakes: the role rules of the HTTP routes, the lease
// held by home-assistant, what is ignored, and retries that double up to a minute.
import { describe, expect, test } from "bun:test";
import { Commands, commandRefusal, payloadFits } from "../../../src/core/homeassistant/commands.ts";
import { clientOptions, Link, type MqttClientLike, nextRetryMs } from "../../../src/core/homeassistant/connection.ts";
import type { HaUnit } from "../../../src/core/homeassistant/readings.ts";
import { Topics } from "../../../src/core/homeassistant/topics.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { currentActor } from "../../../src/lib/actor.ts";

const topics = new Topics({ prefix: "ollama-gate", discoveryPrefix: "homeassistant" });

/** A unit whose power operations record what they were asked, and by whom. */
function fakeUnit(name: string) {
  const calls: string[] = [];
  const leases: { id: string; holder: string | null; taken_at: string; expires_at: string | null }[] = [];
  const power = {
    holders: async () => ({ leases: [...leases], count: leases.length, permanentOn: false, inFlight: 0, powerState: "off" }),
    takeLease: async (o: { holder?: string | null }) => {
      const lease = { id: `l${leases.length + 1}`, holder: o.holder ?? null, taken_at: "", expires_at: null };
      leases.push(lease);
      calls.push(`takeLease ${o.holder} as ${currentActor()}`);
      return { lease };
    },
    release: async (id?: string) => {
      leases.splice(
        leases.findIndex((l) => l.id === id),
        1,
      );
      calls.push(`release ${id} as ${currentActor()}`);
    },
    untilReady: async () => calls.push(`untilReady as ${currentActor()}`),
    forceShutdown: async () => calls.push(`forceShutdown as ${currentActor()}`),
    setPermanent: async (on: boolean) => calls.push(`setPermanent ${on} as ${currentActor()}`),
  };
  const monitor = { timeIn: () => ({}), probeAndWake: async () => calls.push(`probeAndWake as ${currentActor()}`) };
  const unit = { name, config: {}, monitor, power } as unknown as HaUnit;
  return { unit, calls, leases };
}

function commandsFor(role: "admin" | "user" | "inference") {
  const big = fakeUnit("big");
  const logger = memoryLogger();
  const commands = new Commands({ topics, units: new Map([["big", big.unit]]), role, logger });
  return { ...big, logger, commands };
}

describe("commands", () => {
  test("each command follows the role rules of its HTTP route", () => {
    for (const c of ["wake", "release", "shutdown", "keep_on"] as const) expect(commandRefusal("admin", "big", c)).toBeNull();
    expect(commandRefusal("user", "big", "wake")).toBeNull();
    expect(commandRefusal("user", "big", "release")).toBeNull();
    expect(commandRefusal("user", "big", "shutdown")).toContain("needs an admin key");
    expect(commandRefusal("user", "big", "keep_on")).toContain("needs an admin key");
    for (const c of ["wake", "release", "shutdown", "keep_on"] as const) expect(commandRefusal("inference", "big", c)).not.toBeNull();
    expect(payloadFits("wake", "PRESS")).toBe(true);
    expect(payloadFits("wake", "ON")).toBe(false);
    expect(payloadFits("keep_on", "OFF")).toBe(true);
    expect(payloadFits("keep_on", "PRESS")).toBe(false);
  });

  test("Wake takes one lease held by home-assistant, as mqtt; Release gives it back; Keep on and Shut down call the same operations", async () => {
    const { commands, calls, leases } = commandsFor("admin");
    await commands.message("ollama-gate/big/wake/set", Buffer.from("PRESS"));
    expect(leases.map((l) => l.holder)).toEqual(["home-assistant"]);
    await commands.message("ollama-gate/big/wake/set", Buffer.from("PRESS"));
    expect(leases).toHaveLength(1); // a second press wakes again, without a second lease
    await commands.message("ollama-gate/big/release/set", "PRESS");
    expect(leases).toHaveLength(0);
    await commands.message("ollama-gate/big/keep_on/set", "ON");
    await commands.message("ollama-gate/big/shutdown/set", " PRESS ");
    expect(calls).toEqual([
      "takeLease home-assistant as mqtt",
      "probeAndWake as mqtt",
      "release l1 as mqtt",
      "setPermanent true as mqtt",
      "forceShutdown as mqtt",
    ]);
  });

  test("the leases held by home-assistant are the buttons': one there already means Wake takes none, and Release gives it back", async () => {
    const { commands, leases, calls } = commandsFor("admin");
    leases.push({ id: "before", holder: "home-assistant", taken_at: "", expires_at: null }); // from before a restart
    leases.push({ id: "other", holder: "laptop", taken_at: "", expires_at: null });
    await commands.message("ollama-gate/big/wake/set", "PRESS");
    expect(calls).toEqual(["probeAndWake as mqtt"]);
    await commands.message("ollama-gate/big/release/set", "PRESS");
    expect(leases.map((l) => l.id)).toEqual(["other"]);
  });

  test("a retained command (kept by the broker, replayed at each connect) is never run", async () => {
    const { commands, calls, logger } = commandsFor("admin");
    await commands.message("ollama-gate/big/shutdown/set", "PRESS", true);
    await commands.message("ollama-gate/big/keep_on/set", "ON", true);
    expect(calls).toEqual([]);
    expect(logger.lines.filter((l) => l.includes("commands are never retained"))).toHaveLength(2);
    await commands.message("ollama-gate/big/shutdown/set", "PRESS", false);
    expect(calls).toEqual(["forceShutdown as mqtt"]);
  });

  test("a command the role may not run does nothing and logs a warning, capped per minute", async () => {
    const { commands, calls, logger } = commandsFor("user");
    await commands.message("ollama-gate/big/shutdown/set", "PRESS");
    await commands.message("ollama-gate/big/keep_on/set", "ON");
    expect(calls).toEqual([]);
    expect(logger.lines.filter((l) => l.includes("MQTT command refused"))).toHaveLength(2);
    await commands.message("ollama-gate/big/wake/set", "PRESS");
    expect(calls).toEqual(["takeLease home-assistant as mqtt"]);
    for (let i = 0; i < 100; i++) await commands.message("ollama-gate/big/shutdown/set", "PRESS");
    expect(logger.lines.filter((l) => l.includes("MQTT command refused"))).toHaveLength(20);
  });

  test("an unknown machine, an unknown command, a bad payload: ignored, with log lines capped per minute", async () => {
    const { commands, calls, logger } = commandsFor("admin");
    await commands.message("ollama-gate/nope/wake/set", "PRESS");
    await commands.message("ollama-gate/big/reboot/set", "PRESS");
    await commands.message("ollama-gate/big/wake/set", "ON");
    await commands.message("ollama-gate/big/keep_on/set", "maybe");
    await commands.message("ollama-gate/big/extra/wake/set", "PRESS");
    expect(calls).toEqual([]);
    const ignored = () => logger.lines.filter((l) => l.includes("MQTT message ignored"));
    expect(ignored()).toHaveLength(5);
    expect(ignored().join("\n")).toContain("no machine is named nope");
    for (let i = 0; i < 100; i++) await commands.message(`ollama-gate/m${i}/wake/set`, "PRESS");
    expect(ignored()).toHaveLength(20);
  });
});

/** A client that records what it is asked, and emits what the test says. */
function fakeClient() {
  const listeners = new Map<string, ((...a: any[]) => void)[]>();
  const client = {
    connected: false,
    published: [] as string[],
    reconnects: 0,
    connects: 0,
    connect() {
      client.connects++;
    },
    on(event: string, l: (...a: any[]) => void) {
      listeners.set(event, [...(listeners.get(event) ?? []), l]);
    },
    emit(event: string, ...args: any[]) {
      for (const l of listeners.get(event) ?? []) l(...args);
    },
    publish(topic: string, payload: string, _o: object, cb?: () => void) {
      client.published.push(`${topic}=${payload}`);
      cb?.();
    },
    subscribe() {},
    reconnect() {
      client.reconnects++;
    },
    end(_force?: boolean, _o?: object, cb?: () => void) {
      cb?.();
    },
  };
  return client;
}

describe("link", () => {
  test("options from the URL: the user and password decoded, a last will, the packet size limit", () => {
    const o = clientOptions({ url: "mqtts://ha:p%40ss@broker.lan", prefix: "g", discoveryPrefix: "homeassistant", role: "admin" }, "g/status");
    expect(o).toMatchObject({ tls: true, host: "broker.lan", port: 8883, username: "ha", password: "p@ss", maximumPacketSize: 16 * 1024 });
    expect(o.will).toEqual({ topic: "g/status", payload: "offline", qos: 1, retain: true });
    expect(clientOptions({ url: "mqtt://[::1]", prefix: "g", discoveryPrefix: "h", role: "admin" }, "g/status")).toMatchObject({
      tls: false,
      host: "::1",
      port: 1883,
    });
  });

  test("a broker that refuses or goes away: logged, retried after 1 s doubling to 60 s, reset by a link that lasted; never the password", async () => {
    expect([1000, 2000, 32_000, 60_000].map(nextRetryMs)).toEqual([2000, 4000, 60_000, 60_000]);
    const client = fakeClient();
    const logger = memoryLogger(["hunter2-secret"]);
    let connects = 0;
    let clock = 0;
    const link = new Link(
      clientOptions({ url: "mqtt://127.0.0.1", prefix: "g", discoveryPrefix: "h", role: "admin" }, "g/status"),
      logger,
      { connected: () => connects++, message: () => {} },
      () => client as unknown as MqttClientLike,
      () => clock,
    );
    link.open();
    expect(client.connects).toBe(1); // connected once its listeners are on
    client.emit("error", new Error("Connection refused: Not authorized (hunter2-secret)"));
    client.emit("close");
    expect(link.nextRetryMs).toBe(2000);
    expect(logger.lines.at(-1)).toContain("the broker cannot be reached; retrying");
    expect(logger.lines.at(-1)).toContain('"retry_in_s":1');
    expect(logger.lines.join("\n")).not.toContain("hunter2-secret");
    client.emit("close"); // a retry is already waiting: not another one
    expect(link.nextRetryMs).toBe(2000);
    clearTimeout((link as unknown as { retry: ReturnType<typeof setTimeout> }).retry); // the retry's timer, as if it had fired
    (link as unknown as { retry: null }).retry = null;
    client.connected = true;
    client.emit("connect");
    expect(connects).toBe(1);
    // A broker that accepts and drops the link at once is retried with the backoff, not every second.
    client.emit("close");
    expect(link.nextRetryMs).toBe(4000);
    clearTimeout((link as unknown as { retry: ReturnType<typeof setTimeout> }).retry);
    (link as unknown as { retry: null }).retry = null;
    client.emit("connect");
    clock += 60_000; // a link that lasted a minute: the next loss starts from 1 s again
    client.emit("close");
    expect(logger.lines.at(-1)).toContain('"retry_in_s":1');
    expect(link.nextRetryMs).toBe(2000);
    await link.close("g/status");
    expect(client.published).toEqual(["g/status=offline"]);
    client.emit("close"); // after a stop, no retry
    expect(link.nextRetryMs).toBe(2000);
  });
});
