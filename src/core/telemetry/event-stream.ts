import type { EventLog, GateEvent } from "./events.ts";

/** What bounds the live event streams (GET /events): their number, and what each may have waiting. */
export interface StreamLimits {
  /** Streams open at once, and per key; one more is refused (an open one is never pushed out for it). */
  maxStreams: number;
  maxPerOwner: number;
  /** Events, and bytes of them, one stream may have waiting; one more and the stream is dropped. */
  maxQueued: number;
  maxQueuedBytes: number;
  /** A comment this often keeps proxies from closing an idle stream; a stream that took nothing for two periods is dropped. */
  keepAliveMs: number;
  /** How long a dropped stream has to take its last message (an `error` event) before its connection is cut. */
  graceMs: number;
}

export const EVENT_STREAM_LIMITS: StreamLimits = {
  maxStreams: 64,
  maxPerOwner: 16,
  maxQueued: 256,
  maxQueuedBytes: 256 * 1024,
  keepAliveMs: 15_000,
  graceMs: 2_000,
};

/** Why a stream was ended by the gateway: its reader fell behind, or its key no longer lets it read events. */
export type DropReason = "behind" | "revoked";

export interface StreamOptions {
  /** Whose stream it is (the key's identity): one key may not take every place. */
  owner: string;
  /** Whether this reader may see this event (a key limited to some machines sees only theirs). */
  accept: (e: GateEvent) => boolean;
  /** Asked after the keys change: why this reader may no longer read events, or null. */
  revoked: () => string | null;
  /**
   * Closes the connection once it has been idle a moment: an errored stream alone does not free a
   * connection stuck on a full socket, and one that ended well would otherwise wait, without a timeout, for another request.
   */
  hangUp: () => void;
}

const encoder = new TextEncoder();
const message = (e: GateEvent) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\nid: ${e.id}\n\n`;
const farewell = (detail: string) => `event: error\ndata: ${JSON.stringify({ detail })}\n\n`;
const BEHIND = "this stream fell behind (its reader did not keep up): reconnect, and read /events/history for what was missed";

/**
 * The live event streams. Each is pulled by the server as its connection takes data: events wait in a
 * bounded queue of their own meanwhile, and a reader that stops reading is dropped instead of holding
 * more and more of them (nothing is written into a connection that does not take it).
 */
export class EventStreams {
  private readonly open = new Set<EventStream>();
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly log: EventLog,
    /** Counts each stream the gateway ended. */
    private readonly dropped: (reason: DropReason) => void,
    readonly limits: StreamLimits = EVENT_STREAM_LIMITS,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** The most events any stream has waiting now. */
  get deepestQueue(): number {
    let most = 0;
    for (const s of this.open) most = Math.max(most, s.queued);
    return most;
  }

  /** Why `owner` may not open one more stream now, or null. */
  full(owner: string): string | null {
    if (this.open.size >= this.limits.maxStreams) return `Too many event streams are open (${this.limits.maxStreams}); try again later`;
    let mine = 0;
    for (const s of this.open) if (s.opts.owner === owner) mine++;
    return mine >= this.limits.maxPerOwner ? `This key has ${this.limits.maxPerOwner} event streams open already; close one first` : null;
  }

  /** A new reader's text/event-stream body, or null when it may not open one (see full()). */
  subscribe(opts: StreamOptions): ReadableStream<Uint8Array> | null {
    if (this.full(opts.owner)) return null;
    const s = new EventStream(opts, this.limits, (reason) => {
      this.open.delete(s);
      if (reason) this.dropped(reason);
      if (this.open.size === 0) this.stopListening();
    });
    this.open.add(s);
    // One listener for all the streams: each event is written out once, whoever reads it. With several gateways,
    // the other replicas' events are streamed too (each carries its replica).
    this.unsubscribe ??= this.log.subscribe(
      (e) => {
        const text = message(e);
        for (const stream of this.open) stream.push(e, text);
      },
      { remote: true },
    );
    return s.body;
  }

  private stopListening(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** After the keys changed: ends, saying why, every stream whose key may no longer read it. */
  recheck(): void {
    for (const s of [...this.open]) {
      const why = s.opts.revoked();
      if (why) s.end("revoked", why);
    }
  }
}

class EventStream {
  readonly body: ReadableStream<Uint8Array>;
  private ctrl!: ReadableStreamDefaultController<Uint8Array>;
  private queue: string[] = [];
  private bytes = 0;
  /** The server asked for data and waits for it: what is handed over now goes out without blocking. */
  private asked: (() => void) | null = null;
  /** Keep-alive periods since the server last asked for data. */
  private missed = 0;
  /** The error event of a dropped stream, until the server asks for it. */
  private last: string | null = null;
  private state: "open" | "ending" | "closed" = "open";
  private readonly keepAlive: ReturnType<typeof setInterval>;
  private grace: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly opts: StreamOptions,
    private readonly limits: StreamLimits,
    private readonly gone: (reason: DropReason | null) => void,
  ) {
    // A high-water mark of 0: the server pulls only when its connection took the previous chunk.
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.ctrl = c;
          // Bun sends the headers with the first bytes: say hello at once so the client knows it is connected.
          c.enqueue(encoder.encode(": connected\n\n"));
        },
        pull: () => this.pull(),
        cancel: () => this.close(),
      },
      { highWaterMark: 0 },
    );
    this.keepAlive = setInterval(() => this.tick(), limits.keepAliveMs);
  }

  get queued(): number {
    return this.queue.length;
  }

  /** An event, and its text as sent. */
  push(e: GateEvent, text: string): void {
    if (this.state !== "open" || !this.opts.accept(e)) return;
    if (this.asked) return this.handOver(text);
    this.queue.push(text);
    this.bytes += Buffer.byteLength(text); // UTF-8, as sent: a holder name may be three bytes a character
    if (this.queue.length > this.limits.maxQueued || this.bytes > this.limits.maxQueuedBytes) this.end("behind", BEHIND);
  }

  private pull(): Promise<void> | undefined {
    this.missed = 0;
    if (this.state === "ending") return void this.finish();
    if (this.state === "closed") return;
    if (this.queue.length > 0) {
      const all = this.queue.join("");
      this.queue = [];
      this.bytes = 0;
      return void this.ctrl.enqueue(encoder.encode(all));
    }
    return new Promise((resolve) => (this.asked = resolve));
  }

  private handOver(text: string): void {
    this.ctrl.enqueue(encoder.encode(text));
    const resolve = this.asked;
    this.asked = null;
    resolve?.();
  }

  private tick(): void {
    if (this.state !== "open") return;
    if (this.asked) return this.handOver(": keep-alive\n\n");
    // The connection has not taken the last chunk for a whole period, and again: its reader is gone.
    if (++this.missed >= 2) this.end("behind", BEHIND);
  }

  /**
   * Stops listening at once and forgets what was waiting. The error event goes out if the server asks
   * for data within the grace period (a reader that is merely slow gets it); otherwise the stream is
   * errored and its connection closed.
   */
  end(reason: DropReason, detail: string): void {
    if (this.state !== "open") return;
    this.state = "ending";
    clearInterval(this.keepAlive);
    this.queue = [];
    this.bytes = 0;
    this.last = farewell(detail);
    this.gone(reason);
    if (this.asked) return this.finish();
    this.grace = setTimeout(() => {
      if (this.state !== "ending") return;
      this.ctrl.error(new Error(detail));
      this.opts.hangUp();
      this.close();
    }, this.limits.graceMs);
  }

  /** The last message, then the end of the stream. */
  private finish(): void {
    const last = this.last!;
    this.last = null;
    const resolve = this.asked;
    this.asked = null;
    this.ctrl.enqueue(encoder.encode(last));
    this.ctrl.close();
    resolve?.();
    this.opts.hangUp();
    this.close();
  }

  /** The reader went away (or the stream is over): nothing more is held for it. */
  private close(): void {
    if (this.state === "closed") return;
    if (this.state === "open") this.gone(null);
    this.state = "closed";
    clearInterval(this.keepAlive);
    clearTimeout(this.grace);
    this.queue = [];
    this.last = null;
    const resolve = this.asked;
    this.asked = null;
    resolve?.();
  }
}
