// A machine's waiting line: at most `maxConcurrent` generations run on it at once (Ollama's OLLAMA_NUM_PARALLEL);
// the rest wait here, fairly. When a slot frees, the next request is the head of one key's own line: the key of
// the highest priority among those waiting, and among those the key served least recently on this machine, so
// one key's burst never makes another key's single request wait behind all of it; within a key, first come
// first served. Bounded: `maxQueue` waiters at most, each for `timeoutMs` at most; a client that leaves is gone
// from the line at once. Knows nothing of HTTP: the pipeline's queue step (routes/ollama/share.ts) speaks for it.
import { ClientGoneError } from "../errors.ts";
import { pickNext, type QueuedEntry, type QueueHooks, type QueueLimits, QueueRefusal, type Ticket, type Waiter } from "./types.ts";

export { QUEUE_RETRY_AFTER_S, type QueuedEntry, type QueueLimits, QueueRefusal, type Ticket } from "./types.ts";

const GRANTED: Ticket = { ready: undefined, release: () => {} };
/** The gateway's own waits for a free slot at once, at most (a preloader per machine needs one). */
const MAX_FREE_WAITERS = 8;

export class MachineQueue {
  running = 0;
  private waiting = 0;
  private seq = 0;
  /** Each key's own line, oldest first; a key with none waiting has no entry. */
  private readonly lines = new Map<string, Waiter[]>();
  /** When each key was last served here (a sequence number): bounded by the keys configured, kept small below. */
  private readonly served = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly limits: QueueLimits,
    private readonly hooks: QueueHooks,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  /** Whether a request would run at once. */
  get free(): boolean {
    return this.limits.maxConcurrent === undefined || (this.running < this.limits.maxConcurrent && this.waiting === 0);
  }

  /**
   * A slot for the gateway's own work (a preload), taken only once nobody waits and a slot is free: it never goes
   * ahead of a client's request, nor sits in the line where it would count as one (its depth, its oldest wait).
   * Undefined after `timeoutMs`.
   */
  async whenFree(key: string, timeoutMs: number): Promise<Ticket | undefined> {
    if (this.limits.maxConcurrent === undefined) return GRANTED;
    const deadline = this.now() + timeoutMs;
    while (!this.free) {
      const left = deadline - this.now();
      if (left <= 0 || this.freeWaiters.length >= MAX_FREE_WAITERS) return undefined;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.freeWaiters = this.freeWaiters.filter((w) => w !== wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        timer.unref?.();
        this.freeWaiters.push(wake);
      });
    }
    return this.grantNow(key);
  }
  private freeWaiters: (() => void)[] = [];

  /** Tells whoever waits for a free slot (whenFree) that there is one. */
  private notifyFree(): void {
    if (this.freeWaiters.length > 0 && this.free) for (const w of [...this.freeWaiters]) w();
  }

  /** How many wait. */
  get depth(): number {
    return this.waiting;
  }

  /** How long the oldest waiter has waited, in ms (0: none waits). */
  oldestWaitMs(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const line of this.lines.values()) oldest = Math.min(oldest, line[0]!.at);
    return oldest === Number.POSITIVE_INFINITY ? 0 : this.now() - oldest;
  }

  /**
   * A place for one request of `key`: granted at once when a slot is free and nobody waits, else in the line.
   * Throws at once (no wait) when the line is full. `signal`: the client leaving leaves the line.
   */
  enter(key: string, priority: number, signal?: AbortSignal, movable?: (to: unknown) => boolean): Ticket {
    const max = this.limits.maxConcurrent;
    if (max === undefined) return GRANTED;
    if (this.running < max && this.waiting === 0) return this.grantNow(key);
    if (this.waiting >= this.limits.maxQueue) {
      throw new QueueRefusal(`${this.name} is busy: ${this.waiting} requests wait for it already`, "queue_full");
    }
    return this.wait(key, priority, signal, movable);
  }

  /**
   * Spill-over: the next waiter (in the fair order) that may go to `unit` leaves this line with a slot of `to`,
   * granted at once. False when none may, or `to` has no free slot.
   */
  moveHead(to: MachineQueue, unit: unknown): boolean {
    if (!to.free) return false;
    const w = this.order().find((x) => x.movable?.(unit));
    if (!w) return false;
    const ticket = to.enter(w.key, w.priority);
    if (ticket.ready) {
      ticket.release(); // taken meanwhile: it stays here
      return false;
    }
    w.move(ticket, unit);
    return true;
  }

  private grantNow(key: string): Ticket {
    this.running++;
    this.markServed(key);
    return { ready: undefined, release: this.releaser() };
  }

  /** A release that frees the slot once. */
  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.running--;
      this.dispatch();
    };
  }

  private wait(key: string, priority: number, signal?: AbortSignal, movable?: (to: unknown) => boolean): Ticket {
    let state: "waiting" | "running" | "moved" | "gone" = "waiting";
    let moved: { ticket: Ticket; to: unknown } | undefined;
    const freeSlot = this.releaser();
    const unhold = this.hooks.hold();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const leave = (w: Waiter) => {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
      this.remove(w);
    };
    let waiter!: Waiter;
    const ready = new Promise<void>((resolve, reject) => {
      waiter = {
        key,
        priority,
        at: this.now(),
        seq: ++this.seq,
        grant: () => {
          state = "running";
          leave(waiter);
          this.hooks.waited?.((this.now() - waiter.at) / 1000);
          resolve();
        },
        refuse: (err) => {
          state = "gone";
          leave(waiter);
          unhold();
          reject(err);
        },
        movable,
        move: (ticket, to) => {
          state = "moved";
          moved = { ticket, to };
          leave(waiter);
          unhold(); // the other machine's wait (its wake) holds it from here
          this.hooks.waited?.((this.now() - waiter.at) / 1000);
          resolve();
        },
      };
    });
    ready.catch(() => {}); // a refusal nobody awaits (the client left first) is no unhandled rejection
    const line = this.lines.get(key);
    if (line) line.push(waiter);
    else this.lines.set(key, [waiter]);
    this.waiting++;
    this.ordered = undefined;
    this.hooks.depth?.(this.waiting);
    timer = setTimeout(() => {
      this.hooks.waited?.((this.now() - waiter.at) / 1000);
      const s = this.limits.timeoutMs < 10_000 ? (this.limits.timeoutMs / 1000).toFixed(1) : Math.round(this.limits.timeoutMs / 1000);
      waiter.refuse(new QueueRefusal(`waited ${s} s in ${this.name}'s queue without a free slot`, "queue_timeout"));
    }, this.limits.timeoutMs);
    timer.unref?.();
    if (signal) {
      onAbort = () => waiter.refuse(new ClientGoneError());
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
    return {
      ready,
      release: () => {
        if (state === "waiting") waiter.refuse(new ClientGoneError());
        else if (state === "running") freeSlot();
        else if (state === "moved") moved!.ticket.release();
        state = "gone";
        unhold();
      },
      started: unhold,
      movedTo: () => moved?.to,
      position: () => {
        if (state !== "waiting") return undefined;
        const order = this.order();
        return { position: order.indexOf(waiter) + 1, of: order.length };
      },
    };
  }

  private remove(w: Waiter): void {
    const line = this.lines.get(w.key);
    const i = line ? line.indexOf(w) : -1;
    if (i < 0) return;
    line!.splice(i, 1);
    if (line!.length === 0) this.lines.delete(w.key);
    this.waiting--;
    this.ordered = undefined;
    this.hooks.depth?.(this.waiting);
    this.notifyFree();
  }

  /** Hands free slots to the waiting, in the fair order. */
  private dispatch(): void {
    const max = this.limits.maxConcurrent ?? Number.POSITIVE_INFINITY;
    while (this.running < max && this.waiting > 0) {
      const next = pickNext(this.lines, this.served);
      this.running++;
      this.markServed(next.key);
      next.grant();
    }
    this.notifyFree();
  }

  private markServed(key: string): void {
    this.ordered = undefined;
    this.served.delete(key); // re-inserted: the map's order is also the order served, so the oldest go first
    this.served.set(key, ++this.seq);
    if (this.served.size > 4096) this.served.delete(this.served.keys().next().value!);
  }

  /** The waiting requests in the order they would be served now. */
  entries(): QueuedEntry[] {
    const now = this.now();
    return this.order().map((w, i) => ({ key: w.key, position: i + 1, waitedS: Math.round((now - w.at) / 100) / 10 }));
  }

  /** The waiters in the order dispatch would grant them, if no one came or left meanwhile; kept until the line changes. */
  private order(): Waiter[] {
    if (this.ordered) return this.ordered;
    const lines = new Map([...this.lines].map(([k, l]) => [k, [...l]]));
    const served = new Map(this.served);
    const out: Waiter[] = [];
    let seq = this.seq;
    while (lines.size > 0) {
      const w = pickNext(lines, served);
      const line = lines.get(w.key)!;
      line.shift();
      if (line.length === 0) lines.delete(w.key);
      served.set(w.key, ++seq);
      out.push(w);
    }
    this.ordered = out;
    return out;
  }
  /** The fair order as last worked out; undefined once someone came, left or was served. */
  private ordered: Waiter[] | undefined;
}
