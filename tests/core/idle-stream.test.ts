import { expect, test } from "bun:test";
import { watchIdle } from "../../src/core/idle-stream.ts";

/** An endless source of 16-byte chunks, one every `everyMs` (0: as fast as it is read); counts cancellations. */
function endless(everyMs: number) {
  const state = { cancelled: 0 };
  const source = new ReadableStream<Uint8Array>({
    pull: async (ctrl) => {
      if (everyMs) await new Promise((r) => setTimeout(r, everyMs));
      ctrl.enqueue(new Uint8Array(16));
    },
    cancel: () => void state.cancelled++,
  });
  return { source, state };
}

function watched(idleMs: number, everyMs: number, maxQueued?: number) {
  const { source, state } = endless(everyMs);
  const seen = { stalls: 0, ends: 0 };
  const stream = watchIdle(
    source,
    idleMs,
    { onIdle: () => null, onCancel: () => {}, onStall: () => void seen.stalls++, onEnd: () => void seen.ends++ },
    maxQueued,
  );
  return { reader: stream.getReader(), state, seen };
}

const failure = (reader: { closed: Promise<unknown> }) => reader.closed.then(() => "closed", (err: Error) => err.message);

test("a consumer that takes nothing for idleMs loses the stream: the source is cancelled and the stream errors", async () => {
  const { reader, state, seen } = watched(100, 10); // ten chunks at most before the timeout: far under the queue limit
  await reader.read(); // takes one chunk, then nothing more
  expect(await failure(reader)).toBe("the client stopped reading");
  expect(seen).toEqual({ stalls: 1, ends: 1 });
  expect(state.cancelled).toBe(1);
});

test("a consumer that falls more than the queue limit behind loses it at once, whatever the timeout", async () => {
  const { reader, state, seen } = watched(60_000, 0, 1024);
  await reader.read();
  expect(await failure(reader)).toBe("the client stopped reading");
  expect(seen.stalls).toBe(1);
  expect(state.cancelled).toBe(1);
});

test("a consumer that reads slowly, but within idleMs each time and keeping up, keeps it", async () => {
  const { reader, state, seen } = watched(300, 20);
  for (let i = 0; i < 10; i++) {
    await reader.read();
    await new Promise((r) => setTimeout(r, 40)); // 10 × 40 ms: more than the idle timeout in all
  }
  expect(seen.stalls).toBe(0);
  expect(state.cancelled).toBe(0);
  await reader.cancel();
  expect(seen.ends).toBe(1);
});
