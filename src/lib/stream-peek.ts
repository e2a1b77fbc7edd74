/**
 * Reads the start of a stream (at least `bytes`, or all of it if shorter) and gives it back with a stream
 * that replays that start and then goes on with the rest, unread until asked for: nothing beyond the
 * start is held, however large the whole.
 */
export async function peekStream(
  stream: ReadableStream<Uint8Array>,
  bytes: number,
): Promise<{ head: Uint8Array; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let done = false;
  while (size < bytes) {
    const r = await reader.read();
    if (r.done) {
      done = true;
      break;
    }
    chunks.push(r.value);
    size += r.value.length;
  }
  const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  let replayed = false;
  const rest = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (!replayed) {
        replayed = true;
        if (head.length > 0) return ctrl.enqueue(head);
      }
      if (done) return ctrl.close();
      const r = await reader.read();
      if (r.done) ctrl.close();
      else ctrl.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { head, stream: rest };
}

/**
 * Passes a stream through untouched, each chunk as soon as it is asked for, and hands `seen` a copy of its
 * first `bytes` (or all of it, if shorter) once they have passed: for a reader that only notes what the start
 * says, nothing is held back. A stream that fails or is cancelled before then hands over what had passed, as
 * `take()` does when called.
 */
export function watchHead(
  stream: ReadableStream<Uint8Array>,
  bytes: number,
  seen: (head: Uint8Array) => void,
): { stream: ReadableStream<Uint8Array>; take: () => void } {
  const reader = stream.getReader();
  let chunks: Uint8Array[] | null = [];
  let size = 0;
  const give = () => {
    if (!chunks) return;
    const head = Buffer.concat(chunks);
    chunks = null;
    try {
      if (head.length > 0) seen(head);
    } catch {} // a reader's failure is its own: the stream goes on
  };
  const passed = new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        let r: Awaited<ReturnType<typeof reader.read>>;
        try {
          r = await reader.read();
        } catch (err) {
          give();
          throw err;
        }
        if (r.done) {
          give();
          return ctrl.close();
        }
        if (chunks) {
          // A copy: the chunk itself leaves with the stream, and may be reused by whoever writes it.
          chunks.push(r.value.slice(0, bytes - size));
          size += r.value.length;
          if (size >= bytes) give();
        }
        ctrl.enqueue(r.value);
      },
      cancel(reason) {
        give();
        return reader.cancel(reason);
      },
    },
    // Nothing is read before it is asked for (a machine that boots is not sent a chunk early).
    { highWaterMark: 0 },
  );
  // `take` hands over what has passed now, for a reader that cannot wait for the rest (its answer has ended).
  return { stream: passed, take: give };
}
