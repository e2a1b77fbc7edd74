// A webhook (or ntfy) receiver on loopback for the notification tests: it records every request, answers
// with the statuses it is told to (200 once they run out), can hold requests unanswered, and lets a test
// wait for the n-th request instead of sleeping.

export interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Resolves once `n` requests (counting those already in) have arrived. */
  waitFor(n: number): Promise<Received[]>;
  /** Resolves with the first request (already in or still to come) that matches. */
  waitUntil(match: (r: Received) => boolean): Promise<Received>;
  /** Answers the next requests with these statuses, in order. */
  answer(...statuses: number[]): void;
  /** From now on requests get no answer until release(). */
  hold(): void;
  /** Answers every held request (200) and stops holding. */
  release(): void;
  /** Requests held right now. */
  readonly holding: number;
  stop(): void;
}

export function startReceiver(): Receiver {
  const received: Received[] = [];
  const statuses: number[] = [];
  const waiters = new Set<() => void>();
  let held: (() => void)[] | undefined;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    // A held request must outlive Bun's default 10 s idle limit only if a test forgets to release it.
    idleTimeout: 60,
    async fetch(req) {
      const u = new URL(req.url);
      received.push({ method: req.method, path: u.pathname, headers: Object.fromEntries(req.headers), body: await req.text() });
      for (const w of waiters) w();
      if (held) await new Promise<void>((resolve) => held!.push(resolve));
      return new Response("ok", { status: statuses.shift() ?? 200 });
    },
  });
  const until = <T>(check: () => T | undefined) =>
    new Promise<T>((resolve) => {
      const w = () => {
        const v = check();
        if (v === undefined) return;
        waiters.delete(w);
        resolve(v);
      };
      waiters.add(w);
      w();
    });
  return {
    url: `http://127.0.0.1:${server.port}`,
    received,
    waitFor: (n) => until(() => (received.length >= n ? received.slice(0, n) : undefined)),
    waitUntil: (match) => until(() => received.find(match)),
    answer: (...s) => void statuses.push(...s),
    hold: () => void (held ??= []),
    release: () => {
      const h = held ?? [];
      held = undefined;
      for (const resolve of h) resolve();
    },
    get holding() {
      return held?.length ?? 0;
    },
    stop: () => server.stop(true),
  };
}
