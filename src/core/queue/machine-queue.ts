// A machine's waiting line: at most `maxConcurrent` generations run on it at once (Ollama's OLLAMA_NUM_PARALLEL);
// the rest wait here, fairly. When a slot frees, the next request is the head of one key's own line: the key of
// the highest priority among those waiting, and among those the key served least recently on this machine, so
// one key's burst never makes another key's single request wait behind all of it; within a key, first come
// first served (fair-lines.ts). Bounded: `maxQueue` waiters at most, each for `timeoutMs` at most; a client that
// leaves is gone from the line at once. The slots come from a pool (slots.ts): this gateway's own count, granted
// in the same turn, or with several replicas one count they share, asked for whenever this line has a head.
// Knows nothing of HTTP: the pipeline's queue step (routes/ollama/share.ts) speaks for it.
import { FairLines } from "./fair-lines.ts";
import { LocalSlots, type SlotPool } from "./slots.ts";
import { type QueuedEntry, type QueueHooks, type QueueLimits, QueueRefusal, type Ticket, type Waiter } from "./types.ts";
import { type WaitingLine, waitingTicket } from "./waiting-ticket.ts";

export { QUEUE_RETRY_AFTER_S, type QueuedEntry, type QueueLimits, QueueRefusal, type Ticket } from "./types.ts";

const GRANTED: Ticket = { ready: undefined, release: () => {} };
/** The gateway's own waits for a free slot at once, at most (a preloader per machine needs one). */
const MAX_FREE_WAITERS = 8;

export interface QueueOptions {
  now?: () => number;
  /** Where the slots come from: by default this gateway's own count of `maxConcurrent`. */
  slots?: SlotPool;
}

export class MachineQueue {
  /** Generations this gateway runs on the machine now (with a shared count, the other replicas' are not in it). */
  running = 0;
  private readonly lines = new FairLines();
  private readonly slots: SlotPool;
  private readonly now: () => number;
  /** A shared count's answer is awaited: one ask at a time, for whoever heads the line when it comes. */
  private asking = false;
  /** A chance came while the store was being asked: if that ask is refused, ask again at once. */
  private again = false;
  private freeWaiters: (() => void)[] = [];
  /** What a waiting ticket sees of this line. */
  private readonly side: WaitingLine;

  constructor(
    readonly name: string,
    readonly limits: QueueLimits,
    private readonly hooks: QueueHooks,
    o: QueueOptions = {},
  ) {
    this.now = o.now ?? performance.now.bind(performance);
    this.slots = o.slots ?? new LocalSlots(limits.maxConcurrent ?? Number.POSITIVE_INFINITY);
    this.slots.onChance(() => {
      if (this.asking) this.again = true;
      this.dispatch();
    });
    this.side = {
      name,
      timeoutMs: limits.timeoutMs,
      hooks,
      now: this.now,
      nextSeq: () => this.lines.nextSeq(),
      add: (w) => {
        this.lines.add(w);
        this.changed();
      },
      remove: (w) => this.remove(w),
      order: () => this.lines.order(),
      releaser: () => this.releaser(),
    };
  }

  /** Whether a request would run at once (with a shared count: as far as this replica last saw). */
  get free(): boolean {
    return this.limits.maxConcurrent === undefined || (this.lines.size === 0 && this.slots.looksFree);
  }

  /**
   * A slot for the gateway's own work (a preload), taken only once nobody waits and a slot is free: it never goes
   * ahead of a client's request, nor sits in the line where it would count as one (its depth, its oldest wait).
   * Undefined after `timeoutMs`, or when the shared store is away.
   */
  async whenFree(key: string, timeoutMs: number): Promise<Ticket | undefined> {
    if (this.limits.maxConcurrent === undefined) return GRANTED;
    const deadline = this.now() + timeoutMs;
    for (;;) {
      if (this.lines.size === 0) {
        const asked = this.slots.take({ polite: true });
        const got = typeof asked === "boolean" ? asked : await asked.catch(() => undefined);
        if (got === undefined) return undefined;
        if (got && this.lines.size === 0) return this.granted(key);
        if (got) this.giveBack(); // a client came meanwhile: it goes first
      }
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
  }

  /** Tells whoever waits for a free slot (whenFree) that there may be one: a shared count is asked to know. */
  private notifyFree(): void {
    if (this.freeWaiters.length === 0 || this.lines.size > 0 || (this.slots.atOnce && !this.slots.looksFree)) return;
    for (const w of [...this.freeWaiters]) w();
  }

  /** How many wait. */
  get depth(): number {
    return this.lines.size;
  }

  /** How long the oldest waiter has waited, in ms (0: none waits). */
  oldestWaitMs(): number {
    const at = this.lines.oldestAt();
    return at === undefined ? 0 : this.now() - at;
  }

  /**
   * A place for one request of `key`: granted at once when a slot is free and nobody waits, else in the line.
   * Throws at once (no wait) when the line is full, or the shared store is known to be away. `signal`: the
   * client leaving leaves the line. With a shared count every request waits in the line for the store's answer.
   */
  enter(key: string, priority: number, signal?: AbortSignal, movable?: (to: unknown) => boolean): Ticket {
    if (this.limits.maxConcurrent === undefined) return GRANTED;
    this.slots.check();
    if (this.lines.size === 0 && this.slots.atOnce && this.slots.take({}) === true) return this.granted(key);
    if (this.lines.size >= this.limits.maxQueue) {
      throw new QueueRefusal(`${this.name} is busy: ${this.lines.size} requests wait for it already`, "queue_full");
    }
    const ticket = waitingTicket(this.side, key, priority, signal, movable);
    if (!this.slots.atOnce) this.dispatch();
    return ticket;
  }

  /**
   * Spill-over: the next waiter (in the fair order) that may go to `unit` leaves this line with a place in `to`'s
   * (a slot granted at once; with a shared count, its turn there). False when none may, or `to` has no free slot.
   */
  moveHead(to: MachineQueue, unit: unknown): boolean {
    if (!to.free) return false;
    const w = this.lines.order().find((x) => x.movable?.(unit));
    if (!w) return false;
    let ticket: Ticket;
    try {
      ticket = to.enter(w.key, w.priority);
    } catch {
      return false; // `to`'s store is away: it stays here
    }
    if (ticket.ready && to.slots.atOnce) {
      ticket.release(); // taken meanwhile: it stays here
      return false;
    }
    w.move(ticket, unit);
    return true;
  }

  private granted(key: string): Ticket {
    this.running++;
    this.lines.markServed(key);
    return { ready: undefined, release: this.releaser() };
  }

  /** A release that frees the slot once. */
  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.running--;
      this.giveBack();
    };
  }

  private giveBack(): void {
    this.slots.give();
    this.dispatch();
  }

  private remove(w: Waiter): void {
    if (!this.lines.remove(w)) return;
    this.changed();
    this.notifyFree();
  }

  /** The number waiting changed: told to the metrics and to the pool. */
  private changed(): void {
    this.hooks.depth?.(this.lines.size);
    this.slots.waiting(this.lines.size);
  }

  /** Hands free slots to the waiting, in the fair order: at once from a local count, else when the store answers. */
  private dispatch(): void {
    while (this.lines.size > 0 && !this.asking) {
      const asked = this.slots.take({ more: this.lines.size > 1 });
      if (asked === true) this.grantNext();
      else if (asked === false) break;
      else {
        this.asking = true;
        asked.then(
          (got) => this.answered(got),
          (err) => this.refuseAll(err),
        );
        break;
      }
    }
    this.notifyFree();
  }

  /** The shared count's answer: a slot goes to whoever heads the line now. Refused: the pool calls again (onChance). */
  private answered(got: boolean): void {
    this.asking = false;
    const again = this.again;
    this.again = false;
    if (!got && again) return this.dispatch();
    if (!got) return;
    if (this.lines.size > 0) this.grantNext();
    else this.slots.give(); // the one it was asked for left meanwhile
    this.dispatch();
  }

  /** The store is away (or failed): nobody here can get a slot now, so nobody waits for one. */
  private refuseAll(err: unknown): void {
    this.asking = false;
    this.again = false;
    for (const w of [...this.lines.order()]) w.refuse(err instanceof Error ? err : new Error(String(err)));
  }

  private grantNext(): void {
    const next = this.lines.next()!;
    this.running++;
    this.lines.markServed(next.key);
    next.grant();
  }

  /** The waiting requests in the order they would be served now. */
  entries(): QueuedEntry[] {
    const now = this.now();
    return this.lines.order().map((w, i) => ({ key: w.key, position: i + 1, waitedS: Math.round((now - w.at) / 100) / 10 }));
  }
}
