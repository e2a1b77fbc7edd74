import { expect, test } from "bun:test";
import { watchIdle } from "../../../src/core/proxy/idle-stream.ts";

/** An endless source that counts how often it was cancelled. */
function endless() {
  const state = { cancelled: 0 };
  const source = new ReadableStream<Uint8Array>({
    pull: (ctrl) => ctrl.enqueue(new Uint8Array(16)),
    cancel: () => void state.cancelled++,
  });
  return { source, state };
}

function watched(idleMs: number) {
  const { source, state } = endless();
  const seen = { stalls: 0, ends: 0 };
  const stream = watchIdle(source, idleMs, {
    onIdle: () => null,
    onCancel: () => {},
    onStall: () => void seen.stalls++,
    onEnd: () => void seen.ends++,
  });
  return { reader: stream.getReader(), state, seen };
}

test("a consumer that takes nothing for idleMs loses the stream: the source is cancelled and the stream errors", async () => {
  const { reader, state, seen } = watched(100);
  await reader.read(); // takes one chunk, then nothing more
  const failed = reader.closed.then(
    () => "closed",
    (err: Error) => err.message,
  );
  expect(await failed).toBe("the client stopped reading");
  expect(seen).toEqual({ stalls: 1, ends: 1 });
  expect(state.cancelled).toBe(1);
});

test("a consumer that reads slowly, but within idleMs each time, keeps it", async () => {
  const { reader, state, seen } = watched(300);
  for (let i = 0; i < 12; i++) {
    await reader.read();
    await new Promise((r) => setTimeout(r, 40)); // 12 × 40 ms: well over the idle timeout in all, well under it each time
  }
  expect(seen.stalls).toBe(0);
  expect(state.cancelled).toBe(0);
  await reader.cancel();
  expect(seen.ends).toBe(1);
});
