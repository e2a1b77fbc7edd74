/** Every kind of event, defined once: `/events`, its documentation and (later) webhook filters use these words. */
export const EventType = {
  /** A power state change: from, to, reason. */
  power: "power",
  wakeSent: "wake_sent",
  wakeFailed: "wake_failed",
  wakeTimeout: "wake_timeout",
  shutdownSent: "shutdown_sent",
  shutdownDeferred: "shutdown_deferred",
  shutdownFailed: "shutdown_failed",
  leaseTaken: "lease_taken",
  leaseReleased: "lease_released",
  leaseExpired: "lease_expired",
  leasesCleared: "leases_cleared",
  permanentOn: "permanent_on",
  /** Proxied requests began running after a quiet spell, or all ended and it stayed quiet: running, in_flight. */
  requests: "requests",
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];
export const EVENT_TYPES: readonly EventType[] = Object.values(EventType);

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
    const safe = JSON.parse(this.redact(JSON.stringify(data))) as Record<string, unknown>;
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
