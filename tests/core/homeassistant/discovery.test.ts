// Home Assistant's discovery payloads and the MQTT settings: pure functions, read without a broker.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../../src/config/config.ts";
import { describeConfig, secretsOf } from "../../../src/config/view.ts";
import { discoveryMessages } from "../../../src/core/homeassistant/discovery.ts";
import { stateMessages, tokensTodayByMachine } from "../../../src/core/homeassistant/readings.ts";
import { Topics } from "../../../src/core/homeassistant/topics.ts";
import { POWER_STATES } from "../../../src/core/power/states.ts";

const topics = new Topics({ prefix: "ollama-gate", discoveryPrefix: "homeassistant" });
const configs = (machine: string, hasWatts: boolean, hasTokens: boolean) =>
  discoveryMessages(topics, { machine, hasWatts, hasTokens }, "1.2.3").map((m) => ({
    topic: m.topic,
    config: m.payload === "" ? null : (JSON.parse(m.payload) as Record<string, any>),
  }));

describe("discovery", () => {
  test("one device per machine, every entity with a stable unique_id, the device block and the availability topic", () => {
    const big = configs("big", true, true);
    const present = big.filter((m) => m.config !== null);
    expect(present.map((m) => m.topic).sort()).toEqual(
      [
        "homeassistant/binary_sensor/ollama-gate_big/on/config",
        "homeassistant/button/ollama-gate_big/release/config",
        "homeassistant/button/ollama-gate_big/shutdown/config",
        "homeassistant/button/ollama-gate_big/wake/config",
        "homeassistant/sensor/ollama-gate_big/energy_kwh/config",
        "homeassistant/sensor/ollama-gate_big/leases/config",
        "homeassistant/sensor/ollama-gate_big/power_state/config",
        "homeassistant/sensor/ollama-gate_big/power_w/config",
        "homeassistant/sensor/ollama-gate_big/running/config",
        "homeassistant/sensor/ollama-gate_big/tokens_today/config",
        "homeassistant/switch/ollama-gate_big/keep_on/config",
      ].sort(),
    );
    const ids = present.map((m) => m.config!.unique_id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { config } of present) {
      expect(config!.unique_id).toStartWith("ollama-gate_big_");
      expect(config!.availability_topic).toBe("ollama-gate/status");
      expect(config!.payload_available).toBe("online");
      expect(config!.payload_not_available).toBe("offline");
      expect(config!.device).toEqual({
        identifiers: ["ollama-gate_big"],
        name: "ollama-gate big",
        manufacturer: "ollama-gate",
        model: "Ollama machine",
        sw_version: "1.2.3",
      });
    }
    // The same input, the same ids: Home Assistant keeps what the user renamed.
    expect(configs("big", true, true)).toEqual(big);
  });

  test("the entities say what Home Assistant needs: the power states, the energy for its Energy dashboard, the commands", () => {
    const by = Object.fromEntries(configs("big", true, true).map((m) => [m.topic.split("/").slice(-2, -1)[0], m.config]));
    expect(by.power_state).toMatchObject({ device_class: "enum", options: [...POWER_STATES], state_topic: "ollama-gate/big/power_state" });
    expect(POWER_STATES).toEqual(["off", "waking", "on", "degraded", "shutting_down"]);
    expect(by.on).toMatchObject({ device_class: "power", payload_on: "ON", payload_off: "OFF", state_topic: "ollama-gate/big/on" });
    expect(by.energy_kwh).toMatchObject({ device_class: "energy", state_class: "total_increasing", unit_of_measurement: "kWh" });
    expect(by.power_w).toMatchObject({ device_class: "power", unit_of_measurement: "W" });
    expect(by.keep_on).toMatchObject({ command_topic: "ollama-gate/big/keep_on/set", state_topic: "ollama-gate/big/keep_on" });
    for (const b of ["wake", "release", "shutdown"])
      expect(by[b]).toMatchObject({ command_topic: `ollama-gate/big/${b}/set`, payload_press: "PRESS" });
  });

  test("a machine without watts and a gateway without usage: no energy, power or tokens, and their old configs are removed", () => {
    const small = configs("small", false, false);
    const removed = small.filter((m) => m.config === null).map((m) => m.topic);
    expect(removed.sort()).toEqual(
      [
        "homeassistant/sensor/ollama-gate_small/energy_kwh/config",
        "homeassistant/sensor/ollama-gate_small/power_w/config",
        "homeassistant/sensor/ollama-gate_small/tokens_today/config",
      ].sort(),
    );
    expect(small.filter((m) => m.config !== null)).toHaveLength(8);
  });

  test("another prefix gives other ids and topics, so two gateways on one broker stay apart", () => {
    const other = new Topics({ prefix: "lab/gate-2", discoveryPrefix: "ha" });
    const [first] = discoveryMessages(other, { machine: "big", hasWatts: false, hasTokens: false }, "1");
    expect(first!.topic).toBe("ha/sensor/lab_gate-2_big/power_state/config");
    expect(JSON.parse(first!.payload)).toMatchObject({ unique_id: "lab_gate-2_big_power_state", state_topic: "lab/gate-2/big/power_state" });
  });

  test("states are plain values on their own topics", () => {
    const r = { state: "degraded" as const, leases: 2, running: 1, keepOn: true, energyKwh: 0.5, powerW: 250, tokensToday: 42 };
    expect(stateMessages(topics, "big", r)).toEqual([
      { topic: "ollama-gate/big/power_state", payload: "degraded" },
      { topic: "ollama-gate/big/on", payload: "ON" },
      { topic: "ollama-gate/big/leases", payload: "2" },
      { topic: "ollama-gate/big/running", payload: "1" },
      { topic: "ollama-gate/big/keep_on", payload: "ON" },
      { topic: "ollama-gate/big/energy_kwh", payload: "0.5" },
      { topic: "ollama-gate/big/power_w", payload: "250" },
      { topic: "ollama-gate/big/tokens_today", payload: "42" },
    ]);
    expect(stateMessages(topics, "big", { state: "waking", leases: 0, running: 0, keepOn: false }).map((m) => m.payload)).toEqual([
      "waking",
      "OFF",
      "0",
      "0",
      "OFF",
    ]);
  });

  test("tokens today: since midnight in the zone, summed per machine", () => {
    const now = Date.parse("2026-03-10T15:30:00Z");
    let asked: { from: number; to: number } | undefined;
    const store = {
      hours: (q: { from: number; to: number }) => {
        asked = q;
        return [
          { machine: "big", prompt_tokens: 10, completion_tokens: 5 },
          { machine: "big", prompt_tokens: 1, completion_tokens: 1 },
          { machine: "small", prompt_tokens: 3, completion_tokens: 0 },
        ];
      },
    };
    expect(tokensTodayByMachine(store, now, "Europe/Madrid")).toEqual(
      new Map([
        ["big", 17],
        ["small", 3],
      ]),
    );
    expect(new Date(asked!.from).toISOString()).toBe("2026-03-09T23:00:00.000Z");
  });
});

describe("MQTT settings", () => {
  const minimal = { EQUIPO_IA: "ia.lan", IA_MAC: "AA:BB:CC:DD:EE:FF", API_KEYS: "key-one-1" };

  test("unset: no bridge; set: the defaults, and the URL and its password are secrets shown nowhere", () => {
    const none = parseConfig(minimal);
    if (!none.ok) throw new Error(none.errors.join("\n"));
    expect(none.config.mqtt).toBeNull();
    expect(describeConfig(none.config)).toMatchObject({ MQTT_URL_SET: false, MQTT_PREFIX: null });

    const set = parseConfig({ ...minimal, MQTT_URL: "mqtt://ha:p%40ss-word-77@broker.lan:1883" });
    if (!set.ok) throw new Error(set.errors.join("\n"));
    expect(set.config.mqtt).toEqual({
      url: "mqtt://ha:p%40ss-word-77@broker.lan:1883",
      prefix: "ollama-gate",
      discoveryPrefix: "homeassistant",
      role: "admin",
    });
    const secrets = secretsOf(set.config);
    expect(secrets).toContain("p%40ss-word-77");
    expect(secrets).toContain("p@ss-word-77");
    expect(secrets).toContain("mqtt://ha:p%40ss-word-77@broker.lan:1883");
    const shown = JSON.stringify(describeConfig(set.config));
    expect(shown).not.toContain("ss-word-77");
    expect(describeConfig(set.config)).toMatchObject({
      MQTT_URL_SET: true,
      MQTT_PREFIX: "ollama-gate",
      MQTT_DISCOVERY_PREFIX: "homeassistant",
      MQTT_ROLE: "admin",
    });
  });

  test("a bad value is one line each, never quoting the URL", () => {
    const r = parseConfig({
      ...minimal,
      MQTT_URL: "http://ha:secret-pw-1@broker.lan",
      MQTT_PREFIX: "a/+/b",
      MQTT_DISCOVERY_PREFIX: "/ha",
      MQTT_ROLE: "root",
    });
    expect(r.ok).toBe(false);
    const errors = r.ok ? [] : r.errors;
    expect(errors).toEqual([
      "MQTT_URL: expected an mqtt:// or mqtts:// URL such as mqtt://user:password@host:1883",
      "MQTT_PREFIX: expected topic levels separated by /, without spaces, + or #, such as ollama-gate",
      "MQTT_DISCOVERY_PREFIX: expected topic levels separated by /, without spaces, + or #, such as ollama-gate",
      "MQTT_ROLE: expected one of admin, user, inference",
    ]);
    expect(errors.join("\n")).not.toContain("secret-pw-1");
    const ok = parseConfig({ ...minimal, MQTT_URL: "mqtts://broker.lan", MQTT_PREFIX: "lab/gate", MQTT_ROLE: "User" });
    expect(ok.ok && ok.config.mqtt).toEqual({ url: "mqtts://broker.lan", prefix: "lab/gate", discoveryPrefix: "homeassistant", role: "user" });
  });
});
