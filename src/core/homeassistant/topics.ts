// The bridge's topics and words, defined once: where each machine's states go, where Home Assistant sends its
// commands, what the gateway-wide availability topic says. Discovery payloads, the bridge and the README use these.
import type { MqttConfig } from "../../config/types.ts";

/** The holder of the lease the Wake button takes (and the Release button gives back). */
export const HA_HOLDER = "home-assistant";

/** The availability topic's two payloads: the last will says the second. */
export const ONLINE = "online";
export const OFFLINE = "offline";

/** Payloads of on/off entities (Home Assistant's defaults), and of a pressed button. */
export const ON = "ON";
export const OFF = "OFF";
export const PRESS = "PRESS";

/** Each machine's state topics, `<prefix>/<machine>/<field>`. */
export const StateField = {
  powerState: "power_state",
  on: "on",
  leases: "leases",
  running: "running",
  keepOn: "keep_on",
  energy: "energy_kwh",
  power: "power_w",
  tokensToday: "tokens_today",
} as const;
export type StateField = (typeof StateField)[keyof typeof StateField];

/** What Home Assistant may ask for, `<prefix>/<machine>/<command>/set`: the three buttons and the Keep on switch. */
export const Command = { wake: "wake", release: "release", shutdown: "shutdown", keepOn: "keep_on" } as const;
export type Command = (typeof Command)[keyof typeof Command];
export const COMMANDS: readonly Command[] = Object.values(Command);

/** Only letters, digits, _ and - in an id (Home Assistant's node_id and object_id). */
const idPart = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, "_");

/** The topics of one gateway (its MQTT_PREFIX) and its discovery prefix. */
export class Topics {
  readonly status: string;
  /** What the bridge subscribes to: every machine's every command. */
  readonly commands: string;
  private readonly prefix: string;
  private readonly discoveryPrefix: string;

  constructor(c: Pick<MqttConfig, "prefix" | "discoveryPrefix">) {
    this.prefix = c.prefix;
    this.discoveryPrefix = c.discoveryPrefix;
    this.status = `${c.prefix}/status`;
    this.commands = `${c.prefix}/+/+/set`;
  }

  state(machine: string, field: StateField): string {
    return `${this.prefix}/${machine}/${field}`;
  }

  command(machine: string, command: Command): string {
    return `${this.prefix}/${machine}/${command}/set`;
  }

  /** The machine's device id: stable, and unique per gateway (its prefix) so two gateways on one broker do not merge. */
  deviceId(machine: string): string {
    return `${idPart(this.prefix)}_${machine}`;
  }

  /** `<discovery prefix>/<component>/<device id>/<object>/config`, as Home Assistant reads it. */
  discovery(component: string, machine: string, object: string): string {
    return `${this.discoveryPrefix}/${component}/${this.deviceId(machine)}/${object}/config`;
  }

  /** The machine and command a command topic names, or why it names none (names cut: a topic is anyone's text). */
  parseCommand(topic: string): { machine: string; command: Command } | { ignored: string } {
    const head = `${this.prefix}/`;
    const rest = topic.startsWith(head) && topic.endsWith("/set") ? topic.slice(head.length, -"/set".length).split("/") : [];
    if (rest.length !== 2) return { ignored: `not a command topic: ${topic.slice(0, 128)}` };
    const [machine, command] = rest as [string, string];
    if (!(COMMANDS as readonly string[]).includes(command)) return { ignored: `unknown command ${command.slice(0, 64)}` };
    return { machine, command: command as Command };
  }
}
