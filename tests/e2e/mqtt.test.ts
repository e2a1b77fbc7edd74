// Home Assistant through MQTT discovery, end to end: the gateway as a real process in front of two simulated
// machines, Debian's mosquitto on a loopback port, and an MQTT client reading back what Home Assistant would.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fakeModel } from "../../src/sim/fake-ollama.ts";
import { simMachinesFile } from "../../src/sim/fleet.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { SimSmartPlug } from "../../src/sim/smart-plug.ts";
import { type GatewayProcess, spawnGateway } from "../gateway-process.ts";
import { childEnv, json, KEY, SSH_PASS, SUDO_PASS, tempDir, until } from "../helpers.ts";
import {
  type Broker,
  hasMosquitto,
  hasMosquittoPasswd,
  MOSQUITTO,
  MOSQUITTO_PASSWD,
  OPENSSL,
  type Reader,
  reader,
  startBroker,
  testCertificates,
} from "../mosquitto.ts";

const SKIP = hasMosquitto ? "" : `${MOSQUITTO} is not installed (apt-get install mosquitto; .ci/run installs it)`;
/** In MQTT_URL: it must never show in the gateway's output, /debug or /events. */
const MQTT_PASSWORD = "mqtt-pw-5b9e1c77d2";

type Gateway = GatewayProcess;

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let big: SimulatedMachine;
let small: SimulatedMachine;

/** A gateway process in front of the two simulated machines, with its own temp dir and only the env given. */
async function gateway(env: Record<string, string>): Promise<Gateway> {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const plug = new SimSmartPlug({ on: () => small.boot(), off: () => void small.powerOff() });
  cleanups.push(() => plug.stop());
  const file = simMachinesFile([
    { name: "big", sim: big, models: ["llama3.1:70b"] },
    { name: "small", sim: small, plug, models: ["qwen2.5:7b"] },
  ]);
  (file.machines[0] as Record<string, unknown>).power_watts = { on: 250, off: 3 };
  await Bun.write(join(dir, "machines.json"), JSON.stringify(file));
  const full = childEnv(
    {
      API_KEYS: KEY,
      MACHINES_FILE: join(dir, "machines.json"),
      STATUS_FILE: join(dir, "status.json"),
      SIM_SSH_PASS: SSH_PASS,
      SIM_SUDO_PASS: SUDO_PASS,
      HOST: "127.0.0.1",
      PORT: "0",
      ...env,
    },
    dir,
  );
  return spawnGateway(full, dir, cleanups);
}

const withPassword = (brokerUrl: string) => brokerUrl.replace("mqtt://", `mqtt://ha:${MQTT_PASSWORD}@`);

beforeAll(async () => {
  if (SKIP) return;
  const model = (name: string) => fakeModel(name, 4_000_000_000, "llama", "7B");
  const base = { sshUser: "ia", sshPassword: SSH_PASS, sudoPassword: SUDO_PASS, bootDelayMs: 100 };
  big = await new SimulatedMachine({ ...base, ollama: { chunkDelayMs: 2, models: [model("llama3.1:70b")] } }).start();
  small = await new SimulatedMachine({ ...base, mac: "52:54:00:00:00:02", ollama: { chunkDelayMs: 2, models: [model("qwen2.5:7b")] } }).start();
  cleanups.push(
    () => big.stop(),
    () => small.stop(),
  );
});

describe.skipIf(Boolean(SKIP))(SKIP ? `Home Assistant over MQTT (skipped: ${SKIP})` : "Home Assistant over MQTT", () => {
  let broker: Broker;
  let gate: Gateway;
  let ha: Reader;

  beforeAll(async () => {
    const { dir, cleanup } = tempDir("ollama-gate-mqtt-");
    cleanups.push(cleanup);
    broker = await startBroker(dir);
    cleanups.push(() => broker.stop());
    gate = await gateway({ MQTT_URL: withPassword(broker.url) });
    ha = await reader(broker.url, ["homeassistant/#", "ollama-gate/#"]);
    cleanups.push(() => ha.close());
  });

  test("discovery for both machines, retained: every entity with its unique_id, device block and availability topic", async () => {
    await ha.next((m) => m.topic === "ollama-gate/status" && m.payload === "online");
    const expected = ["power_state", "on", "leases", "running", "keep_on", "wake", "release", "shutdown", "tokens_today"];
    for (const machine of ["big", "small"]) {
      const objects = machine === "big" ? [...expected, "energy_kwh", "power_w"] : expected;
      for (const object of objects) {
        const m = await ha.next((x) => x.topic.startsWith("homeassistant/") && x.topic.endsWith(`/ollama-gate_${machine}/${object}/config`));
        expect(m.retain).toBe(true);
        const config = JSON.parse(m.payload);
        expect(config.unique_id).toBe(`ollama-gate_${machine}_${object}`);
        expect(config.device).toMatchObject({ identifiers: [`ollama-gate_${machine}`], name: `ollama-gate ${machine}` });
        expect(config.availability_topic).toBe("ollama-gate/status");
      }
    }
    // small has no power_watts: no energy entity for it.
    expect(ha.seen.some((m) => m.topic.includes("ollama-gate_small/energy_kwh") && m.payload !== "")).toBe(false);
    const energy = JSON.parse((await ha.next((m) => m.topic === "homeassistant/sensor/ollama-gate_big/energy_kwh/config")).payload);
    expect(energy).toMatchObject({ device_class: "energy", state_class: "total_increasing", unit_of_measurement: "kWh" });
    const state = await ha.next((m) => m.topic === "ollama-gate/big/power_state");
    expect(state).toMatchObject({ payload: "off", retain: true });
  });

  test("a state change is published within a second", async () => {
    await ha.next((m) => m.topic === "ollama-gate/big/power_state" && m.payload === "off");
    const from = ha.seen.length;
    const asked = performance.now();
    const res = await gate.api("/arrancar", { method: "POST" });
    expect(res.status).toBe(200);
    const waking = await ha.next((m) => m.topic === "ollama-gate/big/power_state" && m.payload !== "off", 5000, from);
    expect(waking.payload).toMatch(/^(waking|on)$/);
    expect(waking.at - asked).toBeLessThan(1000);
    await ha.next((m) => m.topic === "ollama-gate/big/leases" && m.payload === "1", 5000, from);
  });

  test("a forced shutdown clears the leases and Keep on, and Home Assistant reads both gone within a second", async () => {
    await ha.client.publishAsync("ollama-gate/big/keep_on/set", "ON");
    await ha.next((m) => m.topic === "ollama-gate/big/keep_on" && m.payload === "ON");
    await ha.next((m) => m.topic === "ollama-gate/big/leases" && m.payload === "1");
    const from = ha.seen.length;
    expect((await gate.api("/machines/big/shutdown", { method: "POST" })).status).toBe(200);
    // Well within the minute of the periodic refresh: read on the events, after the status was written.
    await ha.next((m) => m.topic === "ollama-gate/big/leases" && m.payload === "0", 1000, from);
    await ha.next((m) => m.topic === "ollama-gate/big/keep_on" && m.payload === "OFF", 1000, from);
  });

  test("the Wake button takes a lease held by home-assistant, Release gives it back; /events says key mqtt", async () => {
    const from = ha.seen.length;
    await ha.client.publishAsync("ollama-gate/small/wake/set", "PRESS");
    await ha.next((m) => m.topic === "ollama-gate/small/leases" && m.payload === "1", 5000, from);
    const machine = await json(gate.api("/machines/small"));
    expect(machine.lease_list.map((l: { holder: string }) => l.holder)).toEqual(["home-assistant"]);
    await ha.client.publishAsync("ollama-gate/small/release/set", "PRESS");
    await ha.next((m) => m.topic === "ollama-gate/small/leases" && m.payload === "0", 5000, from);
    expect((await json(gate.api("/machines/small"))).lease_list).toEqual([]);
    const { events } = await json(gate.api("/events/history"));
    const ours = events.filter((e: { machine: string; type: string }) => e.machine === "small" && e.type.startsWith("lease_"));
    expect(ours.map((e: { type: string; data: { key?: string } }) => [e.type, e.data.key])).toEqual([
      ["lease_taken", "mqtt"],
      ["lease_released", "mqtt"],
    ]);
  });

  test("the broker down and back: HTTP answers at once meanwhile; the gateway reconnects and publishes it all again", async () => {
    await broker.stop();
    await gate.line(/MQTT: the connection to the broker was lost; retrying/);
    const t0 = performance.now();
    expect((await gate.api("/status")).status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(1000);
    await broker.start(); // no persistence: it has forgotten every retained message
    const again = await reader(broker.url, ["homeassistant/#", "ollama-gate/status"]);
    cleanups.push(() => again.close());
    await again.next((m) => m.topic === "ollama-gate/status" && m.payload === "online", 20_000);
    await again.next((m) => m.topic === "homeassistant/sensor/ollama-gate_small/power_state/config", 5000);
    // Retained again: a client that subscribes now (Home Assistant restarting) gets it from the broker.
    const later = await reader(broker.url, ["homeassistant/sensor/ollama-gate_small/power_state/config", "ollama-gate/small/power_state"]);
    cleanups.push(() => later.close());
    expect((await later.next((m) => m.topic.endsWith("/config"))).retain).toBe(true);
    expect((await later.next((m) => m.topic === "ollama-gate/small/power_state")).retain).toBe(true);
  });

  test("the password is nowhere: not in the output, /debug or /events", async () => {
    const debug = await (await gate.api("/debug")).text();
    expect(debug).toContain('"MQTT_URL_SET":true');
    const events = await (await gate.api("/events/history")).text();
    for (const text of [debug, events, gate.output()]) expect(text).not.toContain(MQTT_PASSWORD);
  });

  test("kill -9: the broker publishes the last will, offline", async () => {
    const watch = await reader(broker.url, ["ollama-gate/status"]);
    cleanups.push(() => watch.close());
    await watch.next((m) => m.payload === "online");
    const from = watch.seen.length;
    gate.proc.kill("SIGKILL");
    const offline = await watch.next((m) => m.payload === "offline", 10_000, from);
    expect(offline.topic).toBe("ollama-gate/status");
  });
});

describe.skipIf(Boolean(SKIP))(SKIP ? `MQTT commands and logins (skipped: ${SKIP})` : "MQTT commands and logins", () => {
  test("a role that may not run a command (MQTT_ROLE=inference): Shut down and Wake do nothing; a clean stop says offline", async () => {
    const { dir, cleanup } = tempDir("ollama-gate-mqtt-");
    cleanups.push(cleanup);
    const broker = await startBroker(dir);
    cleanups.push(() => broker.stop());
    const gate = await gateway({ MQTT_URL: broker.url, MQTT_ROLE: "inference", MQTT_PREFIX: "gate-ro" });
    const ha = await reader(broker.url, ["gate-ro/#"]);
    cleanups.push(() => ha.close());
    await ha.next((m) => m.topic === "gate-ro/status" && m.payload === "online");
    await ha.client.publishAsync("gate-ro/small/wake/set", "PRESS");
    await ha.client.publishAsync("gate-ro/big/shutdown/set", "PRESS");
    await gate.line(/MQTT command refused.*"command":"wake"/);
    await gate.line(/MQTT command refused.*"command":"shutdown"/);
    const { machines } = await json(gate.api("/machines"));
    expect(machines.map((m: { leases: number }) => m.leases)).toEqual([0, 0]);
    const { events } = await json(gate.api("/events/history"));
    expect(events.filter((e: { data: { key?: string } }) => e.data.key === "mqtt")).toEqual([]);
    // A clean stop says offline itself and says goodbye (DISCONNECT: the broker drops the will), and still exits 0.
    const from = ha.seen.length;
    gate.proc.kill("SIGTERM");
    await ha.next((m) => m.topic === "gate-ro/status" && m.payload === "offline", 5000, from);
    expect(await gate.proc.exited).toBe(0);
    const gone = broker
      .log()
      .split("\n")
      .filter((l) => /Client ollama-gate-\S+ (disconnected|closed its connection)/.test(l));
    expect(gone.at(-1)).toMatch(/disconnected\.$/);
  });

  test("a command published with retain is never run: not kept for the gateway's connect, not when it comes", async () => {
    const { dir, cleanup } = tempDir("ollama-gate-mqtt-");
    cleanups.push(cleanup);
    const broker = await startBroker(dir);
    cleanups.push(() => broker.stop());
    const ha = await reader(broker.url, ["gate-rt/#"]);
    cleanups.push(() => ha.close());
    await ha.client.publishAsync("gate-rt/big/keep_on/set", "ON", { retain: true });
    await ha.client.publishAsync("gate-rt/big/wake/set", "PRESS", { retain: true });
    const gate = await gateway({ MQTT_URL: broker.url, MQTT_PREFIX: "gate-rt" });
    // A command sent plainly is run (the gateway listens now); the broker's kept ones, had they come, came before it.
    await until(async () => {
      await ha.client.publishAsync("gate-rt/small/wake/set", "PRESS");
      return (await json(gate.api("/machines/small"))).leases === 1;
    }, 5000);
    // The broker sent none of those it kept (Retain Handling 2): not even to be refused.
    expect(gate.output()).not.toMatch(/retained message on gate-rt\/big/);
    // One published with retain while the gateway listens arrives flagged so, and is refused.
    await ha.client.publishAsync("gate-rt/small/keep_on/set", "ON", { retain: true });
    await gate.line(/MQTT message ignored.*retained message on gate-rt\/small\/keep_on\/set/);
    const { machines } = await json(gate.api("/machines"));
    expect(machines.map((m: { name: string; leases: number; permanent_on: boolean }) => [m.name, m.leases, m.permanent_on])).toEqual([
      ["big", 0, false],
      ["small", 1, false],
    ]);
  });

  test.skipIf(!existsSync(OPENSSL))("mqtts:// to a broker of one's own authority, given as NODE_EXTRA_CA_CERTS; a wrong name refused", async () => {
    const { dir, cleanup } = tempDir("ollama-gate-mqtt-tls-");
    cleanups.push(cleanup);
    const certs = testCertificates(dir);
    const broker = await startBroker(dir, { tls: { certfile: certs.right, keyfile: certs.key } });
    cleanups.push(() => broker.stop());
    const gate = await gateway({ MQTT_URL: broker.url, MQTT_PREFIX: "gate-tls", NODE_EXTRA_CA_CERTS: certs.ca });
    await gate.line(/MQTT: connected/);
    const other = await startBroker(dir, { tls: { certfile: certs.wrongName, keyfile: certs.key } });
    cleanups.push(() => other.stop());
    const refused = await gateway({ MQTT_URL: other.url, MQTT_PREFIX: "gate-tls2", NODE_EXTRA_CA_CERTS: certs.ca });
    await refused.line(/MQTT: the broker cannot be reached; retrying.*not trusted for 127\.0\.0\.1/);
    expect(refused.output()).not.toContain("MQTT: connected");
  });

  test.skipIf(!hasMosquittoPasswd)(
    hasMosquittoPasswd
      ? "a broker that refuses the login: logged and retried, HTTP unaffected, the password never shown"
      : `refused login (skipped: ${MOSQUITTO_PASSWD} is missing)`,
    async () => {
      const { dir, cleanup } = tempDir("ollama-gate-mqtt-");
      cleanups.push(cleanup);
      const broker = await startBroker(dir, { user: { name: "ha", password: "the-right-one-8c2f" } });
      cleanups.push(() => broker.stop());
      const gate = await gateway({ MQTT_URL: withPassword(broker.url) });
      await gate.line(
        /MQTT: the broker cannot be reached; retrying.*Connection refused: (not authorized|bad user name or password).*"retry_in_s":1\b/,
      );
      await gate.line(/MQTT: the broker cannot be reached; retrying.*"retry_in_s":2\b/);
      expect((await gate.api("/status")).status).toBe(200);
      const debug = await (await gate.api("/debug")).text();
      for (const text of [debug, gate.output()]) expect(text).not.toContain(MQTT_PASSWORD);
      // The right password gets in: the refusal was the login, not the broker.
      const ok = await reader(broker.url, ["#"], { username: "ha", password: "the-right-one-8c2f" });
      await ok.close();
    },
  );
});
