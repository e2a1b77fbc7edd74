/** The slowest a body may come: after `graceMs`, at least `bytesPerSecond` on average over the last `windowMs`. */
export interface RateFloor {
  bytesPerSecond: number;
  graceMs: number;
  windowMs: number;
}

/**
 * `source`, passed on as it is read, until it comes slower than the floor: then the stream errors with
 * `tooSlow()` and the source is cancelled. Only time spent waiting on the source counts: a reader that
 * stops asking (an upstream taking the bytes slowly, a machine still booting) does not make the sender
 * slow. Each byte buys 1/bytesPerSecond s of waiting, at most `windowMs` ahead, after a first `graceMs`
 * free. A chunk costs a clock read and a sum; the one timer is armed again only when it fires.
 */
export function withRateFloor(source: ReadableStream<Uint8Array>, floor: RateFloor, tooSlow: () => Error): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  const msPerByte = 1000 / floor.bytesPerSecond;
  let waited = 0; // ms spent waiting on finished reads
  let since: number | null = null; // when the read under way began
  let deadline = floor.graceMs; // on the clock of time spent waiting
  let timer: ReturnType<typeof setTimeout> | null = null;
  let out: ReadableStreamDefaultController<Uint8Array> | null = null;
  const clock = () => waited + (since === null ? 0 : performance.now() - since);
  const arm = (ms: number) => {
    timer = setTimeout(check, Math.max(0, ms));
  };
  const stop = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    out = null;
  };
  function check() {
    timer = null;
    // No read under way: the next one arms the timer again.
    if (since === null || !out) return;
    const left = deadline - clock();
    if (left > 0) return arm(left);
    const err = tooSlow();
    out.error(err);
    stop();
    reader.cancel(err).catch(() => {});
  }
  return new ReadableStream<Uint8Array>(
    {
      start: (ctrl) => void (out = ctrl),
      async pull(ctrl) {
        const began = performance.now();
        since = began;
        if (!timer) arm(deadline - waited);
        let r: Awaited<ReturnType<typeof reader.read>>;
        try {
          r = await reader.read();
        } catch (err) {
          if (out) ctrl.error(err);
          return stop();
        } finally {
          waited += performance.now() - began;
          since = null;
        }
        if (!out) return; // cut while the read was under way
        if (r.done) {
          stop();
          return ctrl.close();
        }
        deadline = Math.min(waited + floor.windowMs, deadline + r.value.length * msPerByte);
        ctrl.enqueue(r.value);
      },
      cancel(reason) {
        stop();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
