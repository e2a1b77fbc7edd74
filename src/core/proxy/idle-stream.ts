import { coarseDeadlines, type Deadline, type Deadlines } from "../../lib/deadlines.ts";

export interface IdleHooks {
  /**
   * The upstream went silent: stop it, and return a last chunk for the client (an error line). Without one
   * (a body whose type has no error line, or whose length was promised) the client's connection is cut.
   */
  onIdle: () => Uint8Array | null;
  /** The upstream's body broke (a malformed chunk, a reset): as onIdle, with the error; left out, the connection is cut. */
  onBroken?: (err: unknown) => Uint8Array | null;
  /** The client went away. */
  onCancel: (reason: unknown) => void;
  /** The client stopped taking data (its connection is open, but nothing is read) for `idleMs`. */
  onStall: () => void;
  /** Called once, however the stream ends: `complete` only when the source ended as it meant to. */
  onEnd: (complete: boolean) => void;
  /** Sees each chunk as it is handed on (usage accounting): must not change or keep it, nor take long. */
  onChunk?: (chunk: Uint8Array) => void;
}

/**
 * Passes a body through chunk by chunk, untouched, and gives up when the source stays silent for
 * `idleMs` while we wait on it. The timer is an idle timeout, not a cap: a two-hour generation that
 * keeps producing is never cut, and a client that reads slowly is not the upstream's silence.
 *
 * The other side has the same rule: a chunk handed on must be taken within `idleMs`. The stream asks
 * for the next chunk only once the last one is on its way to the client, so a client that stopped
 * reading (its socket buffers full) stops the asking; left alone it would hold the upstream request,
 * the in-flight count and any shutdown waiting on it for as long as it keeps its connection open.
 *
 * Each of the two deadlines is made once and re-armed (`refresh`) for every chunk, and a chunk is awaited
 * directly, not raced against a timer's promise: a stream of thousands of small chunks (a token each)
 * makes no timer and no promise of its own per chunk: with hundreds of streams at once, that garbage showed
 * in the gateway's peak (`bun run bench:hostile`, concurrent streams; the figures in the README's "Benchmarks").
 * The deadlines are numbers watched by one sweep (lib/deadlines.ts), not timers of the stream's own.
 */
export function watchIdle(
  source: ReadableStream<Uint8Array>,
  idleMs: number,
  hooks: IdleHooks,
  deadlines: Deadlines = coarseDeadlines,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let ctrl: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  /** A read from the source is under way (the silence timer counts only then). */
  let waiting = false;
  /** A chunk was handed on and the client has not asked for the next (the stall timer counts only then). */
  let handedOver = false;
  let silence: Deadline | undefined;
  let stall: Deadline | undefined;

  const end = (complete = false) => {
    if (ended) return;
    ended = true;
    silence?.clear();
    stall?.clear();
    hooks.onEnd(complete);
  };
  /**
   * Ends the client's stream on the upstream's failure: with a last chunk that says so, or else by cutting
   * the connection, which a client cannot take for a complete body. The cut gives no reason: Bun writes
   * the reason a response body fails with to stderr as a multi-line dump; the hook has logged it in one line.
   */
  const finish = (tail: Uint8Array | null) => {
    if (tail) {
      ctrl.enqueue(tail);
      ctrl.close();
    } else {
      ctrl.error();
    }
    reader.cancel().catch(() => {});
    end();
  };
  // A deadline that passes while its condition no longer holds does nothing: it is re-armed when needed again.
  const onSilence = () => {
    if (!waiting || ended) return;
    finish(hooks.onIdle());
  };
  const onStall = () => {
    if (!handedOver || ended) return;
    hooks.onStall();
    ctrl.error(new Error("the client stopped reading"));
    reader.cancel().catch(() => {});
    end();
  };
  const arm = (d: Deadline | undefined, fire: () => void) => {
    if (!d) return deadlines.add(idleMs, fire);
    d.refresh();
    return d;
  };

  return new ReadableStream<Uint8Array>({
    start(c) {
      ctrl = c;
    },
    async pull() {
      handedOver = false;
      waiting = true;
      silence = arm(silence, onSilence);
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (err) {
        // The upstream connection broke mid-stream (or was cut meanwhile: then it has ended already).
        if (!ended) finish(hooks.onBroken?.(err) ?? null);
        return;
      } finally {
        waiting = false;
      }
      if (ended) return; // cut meanwhile (silence); what the read brought is not wanted
      if (next.done) {
        ctrl.close();
        end(true);
        return;
      }
      hooks.onChunk?.(next.value);
      ctrl.enqueue(next.value);
      handedOver = true;
      stall = arm(stall, onStall);
    },
    cancel(reason) {
      reader.cancel(reason).catch(() => {});
      hooks.onCancel(reason);
      end();
    },
  });
}
