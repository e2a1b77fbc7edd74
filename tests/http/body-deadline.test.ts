// A small body of known length is read whole by the server (req.arrayBuffer()) within one deadline of a sweep: the
// floor's rule for a body no longer than a window's worth, without a stream, a reader or a timer per body.
import { afterEach, describe, expect, test } from "bun:test";
import { ClientGoneError, SlowBodyError } from "../../src/core/errors.ts";
import { readWithin, withinOneWindow } from "../../src/http/body.ts";
import { Deadlines } from "../../src/lib/deadlines.ts";

const floor = { bytesPerSecond: 1000, graceMs: 100, windowMs: 1000 };
const sweep = new Deadlines(10);
afterEach(() => expect(sweep.size).toBe(0)); // every deadline cleared or fired: nothing left watched

/** A request of declared length whose body gives `chunks`, then ends, stalls forever, or fails. */
function request(chunks: string[], end: "close" | "stall" | "fail" = "close") {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (i < chunks.length) return ctl.enqueue(new TextEncoder().encode(chunks[i++]!));
      if (end === "fail") return ctl.error(new Error("connection reset"));
      if (end === "stall") return new Promise(() => {});
      ctl.close();
    },
  });
  return new Request("http://x/api/chat", { method: "POST", body, duplex: "half" } as RequestInit);
}

describe("withinOneWindow", () => {
  test("a body that takes at most the window at the floor's pace: 1000 bytes at 1000 B/s over 1 s, not one more", () => {
    expect(withinOneWindow(1000, floor)).toBe(true);
    expect(withinOneWindow(1001, floor)).toBe(false);
    expect(withinOneWindow(10 * 1024, { bytesPerSecond: 1024, graceMs: 10_000, windowMs: 10_000 })).toBe(true);
  });
});

describe("readWithin", () => {
  test("a body that comes whole is its bytes", async () => {
    const bytes = await readWithin(request(['{"a":', "1}"]), 7, floor, sweep);
    expect(new TextDecoder().decode(bytes)).toBe('{"a":1}');
  });

  test("one that stops coming is cut with 408 at its grace and its bytes' worth of time, not before", async () => {
    const began = performance.now();
    const err = await readWithin(request(["{"], "stall"), 100, floor, sweep).catch((e) => e);
    const took = performance.now() - began;
    expect(err).toBeInstanceOf(SlowBodyError);
    expect((err as SlowBodyError).status).toBe(408);
    expect((err as SlowBodyError).headers).toEqual({ Connection: "close" });
    expect(took).toBeGreaterThanOrEqual(floor.graceMs + 100); // 100 bytes at 1000 B/s: 100 ms after the grace
  });

  test("a client that hangs up mid-body, or sends less than it declared, is a client gone", async () => {
    expect(await readWithin(request(["{"], "fail"), 10, floor, sweep).catch((e) => e)).toBeInstanceOf(ClientGoneError);
    expect(await readWithin(request(["{}"]), 10, floor, sweep).catch((e) => e)).toBeInstanceOf(ClientGoneError);
  });
});
