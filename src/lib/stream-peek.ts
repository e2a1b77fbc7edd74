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
