// Every replica's events in every replica's log (issue 27): each gateway publishes the events it emits on one
// channel of the shared store, and adds the others' to its own log, so /events and /events/history of any of
// them show all. Webhooks and ntfy hear only a log's own events (EventLog.subscribe), so each event is notified
// once, by the replica that emitted it. With the store away, events still flow locally; the others miss them.
import { EVENT_TYPES, type EventLog, type GateEvent, type RemoteEvent } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { SharedStore } from "./store.ts";

/** A message larger than this is dropped unread, and an event of ours larger than this is not sent. */
export const MAX_EVENT_BYTES = 16 * 1024;
/** A machine's name (the configuration keeps them short) and a replica's (REPLICA_NAME: at most 63). */
const MAX_NAME_CHARS = 256;
const MAX_REPLICA_CHARS = 63;
const MAX_TIME_CHARS = 64;
/** One warning at most this often, saying how many messages went since the last. */
const WARN_EVERY_MS = 60_000;

export type RelayDrop = "oversized" | "malformed" | "unsent";

export interface EventRelayOptions {
  store: Pick<SharedStore, "publish" | "subscribe">;
  log: EventLog;
  /** REPLICA_NAME: the `replica` of this gateway's events. */
  replica: string;
  logger: Logger;
  channel?: string;
  /** Counts what was not relayed (a metric, if wired). */
  onDrop?: (reason: RelayDrop) => void;
  now?: () => number;
}

const TYPES = new Set<string>(EVENT_TYPES);

export class EventRelay {
  /** This process: a replica of the same name that another process runs is another origin. */
  readonly origin: string;
  readonly dropped: Record<RelayDrop, number> = { oversized: 0, malformed: 0, unsent: 0 };
  private unsubscribe: (() => void) | null = null;
  private listening = false;
  private lastWarn = Number.NEGATIVE_INFINITY;
  private unwarned = 0;
  private readonly channel: string;
  private readonly now: () => number;

  constructor(private readonly o: EventRelayOptions) {
    this.origin = `${o.replica}#${crypto.randomUUID().slice(0, 8)}`;
    this.channel = o.channel ?? "events";
    this.now = o.now ?? Date.now;
  }

  start(): void {
    if (this.unsubscribe) return;
    // The store keeps a subscription for good (and makes it again after a reconnect): made once, ignored while stopped.
    if (!this.listening) this.o.store.subscribe(this.channel, (message) => this.unsubscribe && this.received(message));
    this.listening = true;
    this.unsubscribe = this.o.log.subscribe((e) => this.send(e));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private send(e: GateEvent): void {
    const { type, at, machine, data } = e;
    const message = JSON.stringify({ o: this.origin, e: { type, at, machine, replica: this.o.replica, data } });
    if (Buffer.byteLength(message) > MAX_EVENT_BYTES) return this.drop("oversized", { event: type, event_id: e.id });
    // Never awaited by the emitter: a store away costs the others this event, never the gateway a wait.
    this.o.store.publish(this.channel, message).catch(() => this.drop("unsent", { event: type, event_id: e.id }));
  }

  private received(message: string): void {
    // A character is at least a byte: a message too long in characters is not counted in bytes.
    if (message.length > MAX_EVENT_BYTES || Buffer.byteLength(message) > MAX_EVENT_BYTES) return this.drop("oversized");
    const parsed = parse(message);
    if (parsed === null) return this.drop("malformed");
    if (parsed.origin === this.origin) return; // our own, back from the channel
    this.o.log.add(parsed.event);
  }

  /** Counted always; logged at most once a minute, with how many went since. */
  private drop(reason: RelayDrop, fields: Record<string, unknown> = {}): void {
    this.dropped[reason]++;
    this.o.onDrop?.(reason);
    this.unwarned++;
    const t = this.now();
    if (t - this.lastWarn < WARN_EVERY_MS) return;
    this.o.logger.warn("an event was not relayed between the replicas", { reason, ...fields, since_last_warning: this.unwarned });
    this.lastWarn = t;
    this.unwarned = 0;
  }
}

const isText = (v: unknown, max: number): v is string => typeof v === "string" && v.length > 0 && v.length <= max;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A message of another replica, checked field by field; null when it is not one. */
export function parse(message: string): { origin: string; event: RemoteEvent } | null {
  let m: unknown;
  try {
    m = JSON.parse(message);
  } catch {
    return null;
  }
  if (!isRecord(m) || !isText(m.o, MAX_NAME_CHARS) || !isRecord(m.e)) return null;
  const { type, at, machine, replica, data } = m.e;
  if (typeof type !== "string" || !TYPES.has(type) || !isText(machine, MAX_NAME_CHARS) || !isText(replica, MAX_REPLICA_CHARS)) return null;
  if (!isRecord(data) || !isText(at, MAX_TIME_CHARS) || !Number.isFinite(Date.parse(at))) return null;
  const event = { type: type as RemoteEvent["type"], at: new Date(Date.parse(at)).toISOString(), machine, replica, data };
  return { origin: m.o, event };
}
