// Sends events to webhooks and ntfy without ever holding up the gateway: an event is queued in memory (each
// receiver its own bounded queue and its own sender), and that is all a request or the power loop pays for.
// A slow or dead receiver delays only its own queue; when the queue is full the oldest event goes.
import type { NotifyConfig } from "../../config/notify.ts";
import type { EventType, GateEvent } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import { render, TargetKind, webhookKind } from "./format.ts";

/** One receiver. `label` is how logs and metrics name it ("webhook 2", "ntfy"): never the URL, which may hold a token. */
export interface Target {
  label: string;
  kind: TargetKind;
  url: string;
  token?: string;
}

export function notifyTargets(c: NotifyConfig): Target[] {
  const hooks = c.webhookUrls.map((url, i) => ({ label: `webhook ${i + 1}`, kind: webhookKind(url), url }));
  return c.ntfyUrl ? [...hooks, { label: "ntfy", kind: TargetKind.ntfy, url: c.ntfyUrl, token: c.ntfyToken }] : hooks;
}

/** Why an event did not reach a receiver: the `reason` of the log line and of `webhook_failures`. */
export const FailureReason = {
  /** The queue was full; the oldest event was dropped unsent. */
  queueFull: "queue_full",
  timeout: "timeout",
  network: "network",
  /** The receiver answered with an error status (a 4xx at once, a 5xx or 429 after the retries). */
  status: "status",
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];
export const FAILURE_REASONS: readonly FailureReason[] = Object.values(FailureReason);

type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export interface NotifierOptions {
  targets: Target[];
  /** The event types that go out. */
  types: readonly EventType[];
  logger: Logger;
  /** Counts failures by target (its label), kind and reason: `webhook_failures`. */
  failures: { inc(labels: Record<string, string>): void };
  fetch?: Fetch;
  /** Waits between attempts; tests pass one that records and returns at once. */
  sleep?: (ms: number) => Promise<void>;
  /** Per attempt, headers and body included. */
  timeoutMs?: number;
  /** Further attempts after a network failure, a timeout, a 5xx or a 429. */
  retries?: number;
  /** The first wait; each next one doubles. */
  backoffMs?: number;
  /** Events waiting per receiver at most. */
  queueSize?: number;
}

export const NOTIFY_DEFAULTS = { timeoutMs: 5000, retries: 3, backoffMs: 1000, queueSize: 100 };

// A timer of the notifier never keeps the process alive on its own (a test file that ends, a gateway that stops).
const unrefSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

type Attempt = { ok: true } | { ok: false; retry: boolean; reason: FailureReason; detail: string };

/** Every receiver's queue; `push` is what EventLog's subscriber calls. */
export class Notifier {
  private readonly channels: Channel[];
  private readonly types: Set<string>;

  constructor(opts: NotifierOptions) {
    this.types = new Set(opts.types);
    const o = { ...NOTIFY_DEFAULTS, fetch: (url: string, init: RequestInit) => fetch(url, init), sleep: unrefSleep, ...opts };
    this.channels = opts.targets.map((t) => new Channel(t, o));
  }

  get active(): boolean {
    return this.channels.length > 0;
  }

  /** Queues the event for every receiver, if its type goes out. Never waits, never throws. */
  push(e: GateEvent): void {
    if (!this.types.has(e.type)) return;
    for (const c of this.channels) c.push(e);
  }

  /** Resolves once every queue is empty and no delivery is under way. */
  async idle(): Promise<void> {
    await Promise.all(this.channels.map((c) => c.idle()));
  }
}

type ChannelOptions = Required<Omit<NotifierOptions, "targets" | "types">>;

/** One receiver: its queue, and the one sender that works through it in order. */
class Channel {
  private readonly queue: GateEvent[] = [];
  private sending: Promise<void> | undefined;

  constructor(
    private readonly target: Target,
    private readonly o: ChannelOptions,
  ) {}

  /** Events dropped from a full queue since the last log line about it: one line per burst, not per event. */
  private dropped = 0;

  push(e: GateEvent): void {
    if (this.queue.length >= this.o.queueSize) {
      this.queue.shift();
      this.o.failures.inc({ target: this.target.label, kind: this.target.kind, reason: FailureReason.queueFull });
      if (this.dropped++ === 0) {
        const { label, kind } = this.target;
        this.o.logger.warn("notification queue full: dropping the oldest events until it drains", { target: label, kind });
      }
    }
    this.queue.push(e);
    this.kick();
  }

  private kick(): void {
    if (this.sending) return;
    // An event pushed while the last sender was winding down is picked up by the next one.
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async drain(): Promise<void> {
    for (let e = this.queue.shift(); e; e = this.queue.shift()) {
      if (this.dropped > 0 && this.queue.length === 0) {
        this.o.logger.warn("notification queue drained", { target: this.target.label, kind: this.target.kind, dropped: this.dropped });
        this.dropped = 0;
      }
      // Nothing here may reject: an unhandled rejection would end the gateway.
      await this.deliver(e).catch((err) => this.fail(e!, FailureReason.network, 0, (err as Error).message));
    }
  }

  private async deliver(e: GateEvent): Promise<void> {
    const out = render(this.target.kind, e, this.target.token);
    for (let attempt = 1; ; attempt++) {
      const result = await this.attempt(out.headers, out.body);
      if (result.ok) return;
      if (!result.retry || attempt > this.o.retries) return this.fail(e, result.reason, attempt, result.detail);
      await this.o.sleep(this.o.backoffMs * 2 ** (attempt - 1));
    }
  }

  private async attempt(headers: Record<string, string>, body: string): Promise<Attempt> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.o.timeoutMs).unref();
    try {
      const res = await this.o.fetch(this.target.url, {
        method: "POST",
        headers: { "User-Agent": "ollama-gate", ...headers },
        body,
        signal: abort.signal,
        // A redirect would turn the POST into a GET without the event and still look like success: it is a failure.
        redirect: "manual",
      });
      // The answer's body says nothing we use; cancelling it frees the connection.
      await res.body?.cancel().catch(() => {});
      if (res.ok) return { ok: true };
      const retry = res.status >= 500 || res.status === 429;
      const moved = res.status >= 300 && res.status < 400 ? ": a redirect; set the URL it leads to" : "";
      return { ok: false, retry, reason: FailureReason.status, detail: `HTTP ${res.status}${moved}` };
    } catch (err) {
      if (abort.signal.aborted) return { ok: false, retry: true, reason: FailureReason.timeout, detail: `no answer within ${this.o.timeoutMs} ms` };
      // The logger blanks the URL should the message quote it.
      return { ok: false, retry: true, reason: FailureReason.network, detail: (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }

  private fail(e: GateEvent, reason: FailureReason, attempts: number, detail: string): void {
    const { label, kind } = this.target;
    this.o.logger.warn("notification not delivered", { target: label, kind, event: e.type, event_id: e.id, reason, attempts, detail });
    this.o.failures.inc({ target: label, kind, reason });
  }
}
