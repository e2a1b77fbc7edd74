import { currentActor } from "../../lib/actor.ts";
import { EVENT_TYPES, EventType } from "./event-types.ts";

export { EVENT_TYPES, EventType };

export interface GateEvent {
  /** This gateway's own numbering, strictly increasing in the order its log took the events (another replica's too). */
  id: number;
  type: EventType;
  at: string;
  /** The machine it concerns. */
  machine: string;
  /** With several gateways (STATE_URL): the one that emitted it. Absent with one gateway. */
  replica?: string;
  data: Record<string, unknown>;
}

/** An event another replica emitted (core/replica/event-relay.ts): numbered here when this log takes it. */
export type RemoteEvent = Omit<GateEvent, "id" | "replica"> & { replica: string };

/** Where one machine's modules report what they did: the event log, with the machine's name added. */
export interface EventSink {
  emit(type: EventType, data?: Record<string, unknown>): void;
}

type Listener = (e: GateEvent) => void;

/** Every decision the gateway takes, kept (the last `size`) and pushed to whoever listens (GET /events). */
export class EventLog {
  private readonly recent: GateEvent[] = [];
  /** Hear only what this gateway emitted: what it sends on (webhooks, ntfy, the relay to other replicas) goes once. */
  private readonly ownListeners = new Set<Listener>();
  /** Hear other replicas' events too: the event streams. */
  private readonly allListeners = new Set<Listener>();
  private nextId = 1;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly size = 200,
    private readonly redact: (text: string) => string = (t) => t,
    /** REPLICA_NAME with several gateways, written into each event; none with one gateway. */
    private readonly replica?: string,
  ) {}

  /** Details may quote an error message; like log lines, they pass through the secret redactor. */
  emit(type: EventType, machine: string, data: Record<string, unknown> = {}): GateEvent {
    // The API key whose request caused it, if one did (never the key itself: its name).
    const by = currentActor();
    const safe = this.redacted(by && !("key" in data) ? { ...data, key: by } : data);
    const event = this.keep({ type, at: new Date(this.now()).toISOString(), machine, replica: this.replica, data: safe });
    for (const l of this.ownListeners) l(event);
    for (const l of this.allListeners) l(event);
    return event;
  }

  /** Another replica's event: kept and streamed, never handed to those who hear only this gateway's own. */
  add(remote: RemoteEvent): GateEvent {
    const { type, at, machine, replica, data } = remote;
    // Redacted here too: a key reloaded on this replica first is blanked from what the others send.
    const event = this.keep({ type, at, machine, replica, data: this.redacted(data) });
    for (const l of this.allListeners) l(event);
    return event;
  }

  /** The sink one machine's modules write to. */
  forMachine(machine: string): EventSink {
    return { emit: (type, data) => void this.emit(type, machine, data) };
  }

  history(): GateEvent[] {
    return [...this.recent];
  }

  /** `listener` hears this gateway's own events; with `{ remote: true }`, the other replicas' as well. */
  subscribe(listener: Listener, opts: { remote?: boolean } = {}): () => void {
    const set = opts.remote ? this.allListeners : this.ownListeners;
    set.add(listener);
    return () => set.delete(listener);
  }

  private redacted(data: Record<string, unknown>): Record<string, unknown> {
    return JSON.parse(this.redact(JSON.stringify(data))) as Record<string, unknown>;
  }

  /** Numbered here, in the order this log took it, so a reader of one gateway sees its ids only grow. */
  private keep(e: Omit<GateEvent, "id">): GateEvent {
    const { type, at, machine, replica, data } = e;
    const event: GateEvent =
      replica === undefined ? { id: this.nextId++, type, at, machine, data } : { id: this.nextId++, type, at, machine, replica, data };
    this.recent.push(event);
    if (this.recent.length > this.size) this.recent.shift();
    return event;
  }
}
