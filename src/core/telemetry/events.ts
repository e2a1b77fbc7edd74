import { currentActor } from "../../lib/actor.ts";
import { EVENT_TYPES, EventType } from "./event-types.ts";

export { EVENT_TYPES, EventType };

export interface GateEvent {
  id: number;
  type: EventType;
  at: string;
  /** The machine it concerns. */
  machine: string;
  data: Record<string, unknown>;
}

/** Where one machine's modules report what they did: the event log, with the machine's name added. */
export interface EventSink {
  emit(type: EventType, data?: Record<string, unknown>): void;
}

type Listener = (e: GateEvent) => void;

/** Every decision the gateway takes, kept (the last `size`) and pushed to whoever listens (GET /events). */
export class EventLog {
  private readonly recent: GateEvent[] = [];
  private readonly listeners = new Set<Listener>();
  private nextId = 1;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly size = 200,
    private readonly redact: (text: string) => string = (t) => t,
  ) {}

  /** Details may quote an error message; like log lines, they pass through the secret redactor. */
  emit(type: EventType, machine: string, data: Record<string, unknown> = {}): GateEvent {
    // The API key whose request caused it, if one did (never the key itself: its name).
    const by = currentActor();
    const safe = JSON.parse(this.redact(JSON.stringify(by && !("key" in data) ? { ...data, key: by } : data))) as Record<string, unknown>;
    const event = { id: this.nextId++, type, at: new Date(this.now()).toISOString(), machine, data: safe };
    this.recent.push(event);
    if (this.recent.length > this.size) this.recent.shift();
    for (const l of this.listeners) l(event);
    return event;
  }

  /** The sink one machine's modules write to. */
  forMachine(machine: string): EventSink {
    return { emit: (type, data) => void this.emit(type, machine, data) };
  }

  history(): GateEvent[] {
    return [...this.recent];
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
