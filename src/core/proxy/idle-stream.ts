export interface IdleHooks {
  /** The upstream went silent: stop it, and return a last chunk for the client (an error line), if any. */
  onIdle: () => Uint8Array | null;
  /** The client went away. */
  onCancel: (reason: unknown) => void;
  /** The client stopped taking data (its connection is open, but nothing is read) for `idleMs`. */
  onStall: () => void;
  /** Called once, however the stream ends. */
  onEnd: () => void;
}

/** What the race against the upstream's next chunk resolves with when the upstream stayed silent. */
const SILENT = Symbol("silent");

/**
 * Passes a body through chunk by chunk, untouched, and gives up when the source stays silent for
 * `idleMs` while we wait on it. A timer per wait is an idle timeout, not a cap: a two-hour generation
 * that keeps producing is never cut, and a client that reads slowly is not the upstream's silence.
 *
 * The other side has the same rule: a chunk handed on must be taken within `idleMs`. The stream asks
 * for the next chunk only once the last one is on its way to the client, so a client that stopped
 * reading (its socket buffers full) stops the asking; left alone it would hold the upstream request,
 * the in-flight count and any shutdown waiting on it for as long as it keeps its connection open.
 */
export function watchIdle(source: ReadableStream<Uint8Array>, idleMs: number, hooks: IdleHooks): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let ended = false;
  const end = () => {
    if (!ended) {
      ended = true;
      hooks.onEnd();
    }
  };
  let stalled: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      clearTimeout(stalled);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const silence = new Promise<typeof SILENT>((resolve) => (timer = setTimeout(() => resolve(SILENT), idleMs)));
      let next: Awaited<ReturnType<typeof reader.read>> | typeof SILENT;
      try {
        next = await Promise.race([reader.read(), silence]);
      } catch (err) {
        // The upstream connection broke mid-stream: the client sees the stream end in error.
        ctrl.error(err);
        end();
        return;
      } finally {
        clearTimeout(timer);
      }
      if (next === SILENT) {
        const tail = hooks.onIdle();
        if (tail) ctrl.enqueue(tail);
        ctrl.close();
        reader.cancel().catch(() => {});
        end();
      } else if (next.done) {
        ctrl.close();
        end();
      } else {
        ctrl.enqueue(next.value);
        stalled = setTimeout(() => {
          hooks.onStall();
          ctrl.error(new Error("the client stopped reading"));
          reader.cancel().catch(() => {});
          end();
        }, idleMs);
      }
    },
    cancel(reason) {
      clearTimeout(stalled);
      reader.cancel(reason).catch(() => {});
      hooks.onCancel(reason);
      end();
    },
  });
}
