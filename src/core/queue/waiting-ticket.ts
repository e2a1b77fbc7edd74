// One request's wait in a machine's line (machine-queue.ts): the ticket it holds meanwhile, and what ends the
// wait — its turn (grant), a refusal (its time out, its client leaving, the shared store away) or spill-over (move).
import { ClientGoneError } from "../errors.ts";
import { type QueueHooks, QueueRefusal, type Ticket, type Waiter } from "./types.ts";

/** What a waiting ticket needs of its line. */
export interface WaitingLine {
  readonly name: string;
  readonly timeoutMs: number;
  readonly hooks: QueueHooks;
  now(): number;
  nextSeq(): number;
  add(w: Waiter): void;
  remove(w: Waiter): void;
  order(): Waiter[];
  /** A release of the slot this ticket will be granted: frees it once. */
  releaser(): () => void;
}

export function waitingTicket(line: WaitingLine, key: string, priority: number, signal?: AbortSignal, movable?: (to: unknown) => boolean): Ticket {
  let state: "waiting" | "running" | "moved" | "gone" = "waiting";
  let moved: { ticket: Ticket; to: unknown } | undefined;
  const freeSlot = line.releaser();
  const unhold = line.hooks.hold();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const leave = (w: Waiter) => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    line.remove(w);
  };
  let waiter!: Waiter;
  const ready = new Promise<void>((resolve, reject) => {
    waiter = {
      key,
      priority,
      at: line.now(),
      seq: line.nextSeq(),
      grant: () => {
        state = "running";
        leave(waiter);
        line.hooks.waited?.((line.now() - waiter.at) / 1000);
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
        unhold(); // the other machine's wait (its wake, or its turn there) holds it from here
        line.hooks.waited?.((line.now() - waiter.at) / 1000);
        if (ticket.ready) ticket.ready.then(resolve, reject);
        else resolve();
      },
    };
  });
  ready.catch(() => {}); // a refusal nobody awaits (the client left first) is no unhandled rejection
  line.add(waiter);
  timer = setTimeout(() => {
    line.hooks.waited?.((line.now() - waiter.at) / 1000);
    const s = line.timeoutMs < 10_000 ? (line.timeoutMs / 1000).toFixed(1) : Math.round(line.timeoutMs / 1000);
    waiter.refuse(new QueueRefusal(`waited ${s} s in ${line.name}'s queue without a free slot`, "queue_timeout"));
  }, line.timeoutMs);
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
    started: () => {
      unhold();
      moved?.ticket.started?.();
    },
    movedTo: () => moved?.to,
    position: () => {
      if (state !== "waiting") return undefined;
      const order = line.order();
      return { position: order.indexOf(waiter) + 1, of: order.length };
    },
  };
}
