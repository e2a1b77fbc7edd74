export interface IdleHooks {
  /** The upstream went silent: stop it, and return a last chunk for the client (an error line), if any. */
  onIdle: () => Uint8Array | null;
  /** The client went away. */
  onCancel: (reason: unknown) => void;
  /** Called once, however the stream ends. */
  onEnd: () => void;
}

/**
 * Passes a body through chunk by chunk, untouched, and gives up when the source stays silent for
 * `idleMs` while we wait on it. A timer per wait is an idle timeout, not a cap: a two-hour generation
 * that keeps producing is never cut, and a client that reads slowly is not the upstream's silence.
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
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const silence = new Promise<"idle">((resolve) => (timer = setTimeout(() => resolve("idle"), idleMs)));
      let next: Awaited<ReturnType<typeof reader.read>> | "idle";
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
      if (next === "idle") {
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
      }
    },
    cancel(reason) {
      reader.cancel(reason).catch(() => {});
      hooks.onCancel(reason);
      end();
    },
  });
}
