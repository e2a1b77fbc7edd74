/**
 * One full garbage collection soon, however often it is asked for before it runs, and at most one
 * every MIN_GAP_MS. Megabyte-sized garbage (a request body once answered, the text of a large status
 * file once written) is cheap for the collector to leave lying, and the process keeps its pages
 * meanwhile: measured under load, the difference between staying inside a 128 MB container and not.
 * A collection is not free, so a burst of requests pays for one, not one each.
 */
const MIN_GAP_MS = 50;
let pending = false;
let lastRun = 0;

/** A counter that asks for a collection each time `bytes` more have been counted. */
export function collectEvery(bytes: number, collect: () => void = collectSoon): (n: number) => void {
  let since = 0;
  return (n) => {
    since += n;
    if (since < bytes) return;
    since = 0;
    collect();
  };
}

/**
 * Marks work done; while there is some, one collection every `intervalMs`, and one more after the last.
 * Left to itself JavaScriptCore collects when its heap grows, not when a burst of requests is over, and
 * the native memory behind dead requests (sockets, streams, buffers) goes back only with their objects, and
 * stayed after each burst of `bun run bench:hostile` (README, "Benchmarks"). A quiet gateway runs no timer.
 */
export function collectWhileBusy(intervalMs: number, collect: () => void = collectSoon): () => void {
  // Each tick that follows work collects; the first tick after none stops the timer.
  return busyTicks(intervalMs, (busy) => (busy ? (collect(), true) : false));
}

/**
 * Marks work done, and collects once when it stops: at the first tick of `intervalMs` that finds no work
 * seen since the one before. Under steady load nothing is collected here (collectWhenLarge follows the
 * memory meanwhile): a full collection every second under a flood of small requests cost more CPU than any
 * other part of a request (README, "Benchmarks"). What a spell of work leaves behind, the native memory of
 * dead requests included, goes once it is over. Each call costs a flag; a quiet gateway runs no timer.
 */
export function collectWhenQuiet(intervalMs: number, collect: () => void = collectSoon): () => void {
  // Ticks that follow work do nothing; the first after none collects and stops the timer.
  return busyTicks(intervalMs, (busy) => busy || (collect(), false));
}

/**
 * The timer both share: `seen()` marks work, and while the timer runs each tick of `intervalMs` is told whether
 * work was seen since the one before; it returns false to stop (the next work starts it again).
 */
function busyTicks(intervalMs: number, tick: (busy: boolean) => boolean): () => void {
  let busy = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const onTick = () => {
    const was = busy;
    busy = false;
    if (tick(was)) return;
    clearInterval(timer);
    timer = undefined;
  };
  return () => {
    busy = true;
    if (timer) return;
    timer = setInterval(onTick, intervalMs);
    timer.unref?.();
  };
}

/**
 * One collection when a burst of at least `minPeak` concurrent tasks is over — none has begun for
 * `quietMs` since the last ended: what they held is garbage at once, and the next burst should not find
 * it still there. Sequential work never reaches the peak, and under steady load the count touches zero
 * between requests without being over (collecting each time cost much of the CPU under wrk: README, "Benchmarks").
 * One timer, re-armed as the last task ends; a task begun meanwhile makes it do nothing when it fires (that
 * task's end re-arms it), so the steady case costs a flag, not a timer per task.
 */
export function collectAfterBurst(
  minPeak: number,
  collect: () => void = collectSoon,
  quietMs = 100,
): { saw: (concurrent: number) => void; over: () => void } {
  let peak = 0;
  let began = false;
  let quiet: ReturnType<typeof setTimeout> | undefined;
  const fire = () => {
    if (began) return;
    peak = 0;
    collect();
  };
  return {
    saw: (concurrent) => {
      began = true;
      if (concurrent > peak) peak = concurrent;
    },
    over: () => {
      if (peak < minPeak) return;
      began = false;
      if (quiet) return void quiet.refresh();
      quiet = setTimeout(fire, quietMs);
      quiet.unref?.();
    },
  };
}

/**
 * Counts work, reads the resident memory every `every` calls, and asks for a collection when it is past
 * `highBytes` (at most once every `minGapMs`). A flood of small requests, thousands a second, makes garbage
 * faster than one collection a second takes it away; this follows the memory itself, so load that stays
 * below the mark costs a counter and, now and then, one read of the process's size.
 */
export function collectWhenLarge(
  opts: { every: number; highBytes: number; minGapMs: number },
  collect: () => void = collectSoon,
  residentBytes: () => number = () => process.memoryUsage.rss(),
): () => void {
  let calls = 0;
  let last = Number.NEGATIVE_INFINITY;
  return () => {
    if (++calls < opts.every) return;
    calls = 0;
    const now = performance.now();
    if (now - last < opts.minGapMs || residentBytes() < opts.highBytes) return;
    last = now;
    collect();
  };
}

export function collectSoon(): void {
  if (pending) return;
  pending = true;
  setTimeout(
    () => {
      pending = false;
      lastRun = performance.now();
      Bun.gc(true);
    },
    Math.max(0, lastRun + MIN_GAP_MS - performance.now()),
  );
}
