// The Home Assistant bridge: on every connect it says `online`, publishes every machine's discovery messages and
// states (all retained) and listens for commands; between connects it publishes each machine's states as its
// events come (a power change, a lease, Keep on, requests starting or ending), and every minute the figures that
// change without an event (energy, power, tokens today, running requests). A state is sent only when it differs
// from what this connection last sent. While the broker is away nothing is queued: the next connect sends it all.
import type { MqttConfig } from "../../config/types.ts";
import type { EventLog } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import { Commands } from "./commands.ts";
import { type Connector, clientOptions, Link, type MqttClientLike } from "./connection.ts";
import { discoveryMessages, type Message } from "./discovery.ts";
import { type HaUnit, readMachine, stateMessages } from "./readings.ts";
import { ONLINE, Topics } from "./topics.ts";

export interface BridgeOptions {
  config: MqttConfig;
  units: readonly HaUnit[];
  events: Pick<EventLog, "subscribe">;
  logger: Logger;
  /** The gateway's version, in each device block. */
  version: string;
  /** Each machine's tokens today; absent when no usage is kept (no such entity then). */
  tokensToday?: () => ReadonlyMap<string, number>;
  /** How often the figures without events are published again (60 s). */
  refreshMs?: number;
  /** Told the bytes read from the broker (deps.ts: a collection after so many, as for proxied answers). */
  onReceived?: (bytes: number) => void;
  /** lib/mqtt's client unless a test hands in its own. */
  connector?: Connector;
}

export class HomeAssistantBridge {
  readonly topics: Topics;
  private readonly link: Link;
  private readonly units: ReadonlyMap<string, HaUnit>;
  private readonly commands: Commands;
  /** What this connection last sent on each state topic: the configured machines' few topics, cleared on connect. */
  private readonly sent = new Map<string, string>();
  /** Machines whose states are to be read and sent: at most every configured machine. */
  private readonly pending = new Set<string>();
  private flushing = false;
  private tokens: ReadonlyMap<string, number> = new Map();
  private timer: ReturnType<typeof setInterval> | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly o: BridgeOptions) {
    this.topics = new Topics(o.config);
    this.units = new Map(o.units.map((u) => [u.name, u]));
    this.commands = new Commands({ topics: this.topics, units: this.units, role: o.config.role, logger: o.logger });
    const events = {
      connected: (c: MqttClientLike) => this.connected(c),
      message: (t: string, p: Buffer, retained: boolean) => void this.commands.message(t, p, retained),
    };
    const options = { ...clientOptions(o.config, this.topics.status), ...(o.onReceived ? { onReceived: o.onReceived } : {}) };
    this.link = new Link(options, o.logger, events, o.connector);
  }

  /** Connects (in the background: the first attempt and every retry happen without anyone waiting). */
  start(): void {
    if (this.unsubscribe) return;
    // Every replica's events (among replicas a machine's state changes where its leader runs, maybe not here).
    this.unsubscribe = this.o.events.subscribe((e) => this.changed(e.machine), { remote: true });
    this.timer = setInterval(() => this.refresh(), this.o.refreshMs ?? 60_000);
    this.timer.unref?.();
    this.link.open();
  }

  /** Says `offline` and disconnects; resolves within a second whatever the broker does. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await this.link.close(this.topics.status);
  }

  /** Everything again: a new connection (a broker restarted without persistence has forgotten it all). */
  private connected(client: MqttClientLike): void {
    this.sent.clear();
    this.send({ topic: this.topics.status, payload: ONLINE });
    for (const u of this.units.values()) {
      const facts = { machine: u.name, hasWatts: u.config.powerWatts !== undefined, hasTokens: this.o.tokensToday !== undefined };
      for (const m of discoveryMessages(this.topics, facts, this.o.version)) this.send(m);
    }
    client.subscribe(this.topics.commands, { qos: 1 }, (err) => {
      if (err) this.o.logger.warn("MQTT: the command topics could not be subscribed to", { error: err.message });
    });
    this.refresh();
  }

  /** The figures that change without an event, for every machine. */
  private refresh(): void {
    if (!this.link.client?.connected) return;
    try {
      if (this.o.tokensToday) this.tokens = this.o.tokensToday();
    } catch (err) {
      this.o.logger.warn("MQTT: the tokens of today could not be read", { err });
    }
    for (const name of this.units.keys()) this.changed(name);
  }

  /** A machine's states are to be sent; the machines pending are read one after the other, each once. */
  private changed(machine: string): void {
    if (!this.units.has(machine) || !this.link.client?.connected) return;
    this.pending.add(machine);
    if (!this.flushing) void this.flush();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      for (const name of this.pending) {
        this.pending.delete(name);
        const unit = this.units.get(name)!;
        const reading = await readMachine(unit, this.o.tokensToday ? (this.tokens.get(name) ?? 0) : undefined);
        for (const m of stateMessages(this.topics, name, reading)) {
          if (this.sent.get(m.topic) === m.payload) continue;
          this.sent.set(m.topic, m.payload);
          this.send(m);
        }
      }
    } catch (err) {
      this.o.logger.error("MQTT: a machine's state could not be read", { err });
    } finally {
      this.flushing = false;
    }
  }

  /** Retained, at most once: a message the broker never got is sent again with the rest on the next connect. */
  private send(m: Message): void {
    const client = this.link.client;
    if (!client?.connected) return;
    client.publish(m.topic, m.payload, { qos: 0, retain: true }, () => {});
  }
}
