import { expect, test } from "bun:test";
import { withRateFloor } from "../../src/lib/rate-floor.ts";

class TooSlow extends Error {}
const floor = { bytesPerSecond: 1000, graceMs: 200, windowMs: 200 };

/** A source giving `chunk` bytes every `everyMs`, `count` times; `cancelled` tells whether it was cancelled. */
function source(chunk: number, everyMs: number, count = Infinity) {
  let sent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const state = { sent: () => sent, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull: (ctrl) =>
        new Promise<void>((resolve) => {
          if (sent >= count) return resolve(ctrl.close());
          timer = setTimeout(() => {
            sent++;
            if (chunk > 0) ctrl.enqueue(new Uint8Array(chunk));
            resolve();
          }, everyMs);
        }),
      cancel: () => {
        clearTimeout(timer);
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

async function readAll(stream: ReadableStream<Uint8Array>, pauseAfterFirstMs = 0): Promise<{ bytes: number; error?: unknown }> {
  const reader = stream.getReader();
  let bytes = 0;
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      if (bytes === 0 && pauseAfterFirstMs) await Bun.sleep(pauseAfterFirstMs);
      bytes += r.value.length;
    }
    return { bytes };
  } catch (error) {
    return { bytes, error };
  }
}

test("a body slower than the floor is cut after the grace, and its source cancelled", async () => {
  const { stream, state } = source(1, 20); // 50 bytes a second against a floor of 1000
  const read = await readAll(withRateFloor(stream, floor, () => new TooSlow()));
  expect(read.error).toBeInstanceOf(TooSlow);
  expect(state.cancelled).toBe(true);
  expect(read.bytes).toBeGreaterThan(0);
});

test("a body that sends nothing at all is cut too (the timer, with no chunk to look at)", async () => {
  const { stream, state } = source(0, 60_000);
  const read = await readAll(withRateFloor(stream, floor, () => new TooSlow()));
  expect([read.error instanceof TooSlow, read.bytes, state.cancelled]).toEqual([true, 0, true]);
});

test("a burst buys a window of quiet, not more: a body that stops after it is cut", async () => {
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (ctrl = c) });
  ctrl.enqueue(new Uint8Array(1_000_000)); // a thousand seconds' worth at the floor's pace, then silence
  const read = await readAll(withRateFloor(stream, floor, () => new TooSlow()));
  expect([read.error instanceof TooSlow, read.bytes]).toEqual([true, 1_000_000]);
});

test("a body at the floor's pace or faster goes through whole", async () => {
  const { stream, state } = source(100, 20, 40); // 5,000 bytes a second for 0.8 s
  const read = await readAll(withRateFloor(stream, floor, () => new TooSlow()));
  expect(read).toEqual({ bytes: 4000 });
  expect(state.cancelled).toBe(false);
});

test("time the reader does not ask for more is not the sender's: a pause longer than the grace cuts nothing", async () => {
  const { stream } = source(100, 20, 10);
  const read = await readAll(
    withRateFloor(stream, floor, () => new TooSlow()),
    3 * floor.graceMs,
  );
  expect(read).toEqual({ bytes: 1000 });
});

test("a reader that cancels stops the source and the timer", async () => {
  const { stream, state } = source(1, 20);
  const reader = withRateFloor(stream, floor, () => new TooSlow()).getReader();
  await reader.read();
  await reader.cancel("done");
  expect(state.cancelled).toBe(true);
});
