// Home Assistant's MQTT discovery messages: one device per machine, and its entities (the power state, on/off,
// leases, running requests, the Keep on switch, the Wake, Release and Shut down buttons, and with power_watts
// its energy, power and tokens today). Pure functions of the configuration: the bridge publishes them, retained,
// on every connect. Every id is derived from the gateway's prefix and the machine's name, so it stays the same
// from one start to the next and Home Assistant keeps the entities the user renamed or placed.
import { POWER_STATES } from "../power/states.ts";
import { Command, OFF, OFFLINE, ON, ONLINE, PRESS, StateField, type Topics } from "./topics.ts";

/** What a machine shows: its watts decide the energy and power entities, the usage store the tokens. */
export interface DeviceFacts {
  machine: string;
  /** power_watts (or POWER_WATTS_ON/OFF) is set. */
  hasWatts: boolean;
  /** Usage is kept (USAGE_DB is not off). */
  hasTokens: boolean;
}

/** A retained message; an empty payload removes an entity a machine no longer has (its watts were unset). */
export interface Message {
  topic: string;
  payload: string;
}

type Entity = { component: string; object: string; fields: Record<string, unknown> };

/** The entities every machine has. */
function baseEntities(t: Topics, machine: string): Entity[] {
  const state = (f: StateField) => t.state(machine, f);
  const command = (c: Command) => t.command(machine, c);
  return [
    {
      component: "sensor",
      object: StateField.powerState,
      fields: {
        name: "Power state",
        device_class: "enum",
        options: [...POWER_STATES],
        state_topic: state(StateField.powerState),
        icon: "mdi:power-settings",
      },
    },
    {
      component: "binary_sensor",
      object: StateField.on,
      fields: { name: "Power", device_class: "power", state_topic: state(StateField.on), payload_on: ON, payload_off: OFF },
    },
    {
      component: "sensor",
      object: StateField.leases,
      fields: { name: "Leases", state_topic: state(StateField.leases), state_class: "measurement", icon: "mdi:lock-clock" },
    },
    {
      component: "sensor",
      object: StateField.running,
      fields: { name: "Running requests", state_topic: state(StateField.running), state_class: "measurement", icon: "mdi:progress-clock" },
    },
    {
      component: "switch",
      object: Command.keepOn,
      fields: {
        name: "Keep on",
        state_topic: state(StateField.keepOn),
        command_topic: command(Command.keepOn),
        payload_on: ON,
        payload_off: OFF,
        icon: "mdi:pin",
      },
    },
    button(t, machine, Command.wake, "Wake", "mdi:power"),
    button(t, machine, Command.release, "Release", "mdi:lock-open-variant"),
    button(t, machine, Command.shutdown, "Shut down", "mdi:power-off"),
  ];
}

const button = (t: Topics, machine: string, c: Command, name: string, icon: string): Entity => ({
  component: "button",
  object: c,
  fields: { name, command_topic: t.command(machine, c), payload_press: PRESS, icon },
});

/** Energy (kWh, for the Energy dashboard) and power (W): only for a machine with watts configured. */
function wattEntities(t: Topics, machine: string): Entity[] {
  return [
    {
      component: "sensor",
      object: StateField.energy,
      fields: {
        name: "Energy",
        device_class: "energy",
        state_class: "total_increasing",
        unit_of_measurement: "kWh",
        suggested_display_precision: 3,
        state_topic: t.state(machine, StateField.energy),
      },
    },
    {
      component: "sensor",
      object: StateField.power,
      fields: {
        name: "Power draw",
        device_class: "power",
        state_class: "measurement",
        unit_of_measurement: "W",
        state_topic: t.state(machine, StateField.power),
      },
    },
  ];
}

const tokensEntity = (t: Topics, machine: string): Entity => ({
  component: "sensor",
  object: StateField.tokensToday,
  // It falls back to 0 at midnight: total_increasing reads that as a new cycle, as it does a meter's reset.
  fields: {
    name: "Tokens today",
    state_class: "total_increasing",
    unit_of_measurement: "tokens",
    icon: "mdi:counter",
    state_topic: t.state(machine, StateField.tokensToday),
  },
});

/** The device block every entity of a machine carries: one device per machine. */
export function deviceOf(t: Topics, machine: string, version: string) {
  return {
    identifiers: [t.deviceId(machine)],
    name: `ollama-gate ${machine}`,
    manufacturer: "ollama-gate",
    model: "Ollama machine",
    sw_version: version,
  };
}

/** Every discovery message of one machine: each entity's config, or an empty payload for one it does not have. */
export function discoveryMessages(t: Topics, facts: DeviceFacts, version: string): Message[] {
  const { machine } = facts;
  const device = deviceOf(t, machine, version);
  const common = {
    availability_topic: t.status,
    payload_available: ONLINE,
    payload_not_available: OFFLINE,
    has_entity_name: true,
    device,
    origin: { name: "ollama-gate", sw_version: version },
  };
  const present = [
    ...baseEntities(t, machine),
    ...(facts.hasWatts ? wattEntities(t, machine) : []),
    ...(facts.hasTokens ? [tokensEntity(t, machine)] : []),
  ];
  const absent = [...(facts.hasWatts ? [] : wattEntities(t, machine)), ...(facts.hasTokens ? [] : [tokensEntity(t, machine)])];
  return [
    ...present.map((e) => ({
      topic: t.discovery(e.component, machine, e.object),
      payload: JSON.stringify({ ...e.fields, unique_id: `${t.deviceId(machine)}_${e.object}`, ...common }),
    })),
    ...absent.map((e) => ({ topic: t.discovery(e.component, machine, e.object), payload: "" })),
  ];
}
