// The vocabulary of a machine's waiting line (machine-queue.ts): its limits, the tickets it hands out, its refusals.
import { UnavailableError } from "../errors.ts";

export interface QueueLimits {
  /** Generations at once; undefined: no limit, no line (every ticket is granted at once). */
  maxConcurrent?: number;
  /** Waiting requests at most; one more is refused. */
  maxQueue: number;
  /** How long a request may wait before it is refused. */
  timeoutMs: number;
}

/** How long a client refused for a full line should wait before it tries again. */
export const QUEUE_RETRY_AFTER_S = 5;

/** A line's refusal, a 503 with Retry-After: full, or waited in too long; `code` tells a stream's error event which. */
export class QueueRefusal extends UnavailableError {
  constructor(
    detail: string,
    readonly code: "queue_full" | "queue_timeout",
  ) {
    super(detail, QUEUE_RETRY_AFTER_S);
  }
}

export interface QueueHooks {
  /** Held while a request waits: a waiting request keeps the machine on like a running one. */
  hold(): () => void;
  /** A request left the line for a slot (or ran out of time): how long it waited, in seconds. */
  waited?(seconds: number): void;
  /** The number waiting changed. */
  depth?(waiting: number): void;
}

/** A request's place: granted (running) or waiting (`ready` settles when it runs, or rejects). */
export interface Ticket {
  /** Undefined: granted at once. Rejects with a 503 (time out) or a 499 (the client left). */
  readonly ready: Promise<void> | undefined;
  /** Gives the slot back (the answer has ended), or leaves the line; once, whatever is called after. */
  release(): void;
  /** While it waits: its place in the fair order (1 goes next) and how many wait; undefined once it runs or left. */
  position?(): { position: number; of: number } | undefined;
  /**
   * The request has begun to be forwarded (the proxy counts it as running work from there): the hold it kept on
   * the machine while it waited ends. Until then a granted request still holds the machine, so no shutdown
   * slips into the moment between its grant and its forward.
   */
  started?(): void;
  /** Once `ready` settled: the machine (as moveHead was given it) that took this request instead, by spill-over. */
  movedTo?(): unknown;
}

/** One waiting request, as GET /machines/{name} shows it. */
export interface QueuedEntry {
  key: string;
  /** 1 goes next. */
  position: number;
  waitedS: number;
}

export interface Waiter {
  key: string;
  priority: number;
  at: number;
  seq: number;
  grant: () => void;
  refuse: (err: Error) => void;
  /** Whether it may be served by another machine (spill-over): a request routed by its model, which that one holds. */
  movable?: (to: unknown) => boolean;
  /** Leaves this line for `ticket`, a slot of another machine's. */
  move: (ticket: Ticket, to: unknown) => void;
}

/** The head of the line that goes next: highest priority, then the key served least recently, then the oldest. */
export function pickNext(lines: Map<string, Waiter[]>, served: Map<string, number>): Waiter {
  let best: Waiter | undefined;
  let bestServed = 0;
  for (const [key, line] of lines) {
    const head = line[0]!;
    const last = served.get(key) ?? 0;
    if (
      !best ||
      head.priority > best.priority ||
      (head.priority === best.priority && (last < bestServed || (last === bestServed && head.seq < best.seq)))
    ) {
      best = head;
      bestServed = last;
    }
  }
  return best!;
}
