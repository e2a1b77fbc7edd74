// The two ways of reading a stream's start: peekStream holds it back until read, watchHead lets every chunk
// pass at once and notes the start as it goes by.
import { expect, test } from "bun:test";
import { peekStream, watchHead } from "../../src/lib/stream-peek.ts";

/** A stream that gives one chunk for each `next()` called so far: what the test has let through. */
function gated(chunks: string[]) {
  const enc = new TextEncoder();
  let allowed = 0;
  let wake: () => void = () => {};
  let i = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        while (allowed === 0) await new Promise<void>((r) => (wake = r));
        allowed--;
        if (i < chunks.length) ctrl.enqueue(enc.encode(chunks[i++]!));
        else ctrl.close();
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    next: () => {
      allowed++;
      wake();
    },
  };
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

test("peekStream reads at least the asked bytes, then replays them before the rest", async () => {
  const src = new Blob(["abc", "def", "ghi"]).stream();
  const { head, stream } = await peekStream(src, 4);
  expect(text(head).length).toBeGreaterThanOrEqual(4);
  expect(await new Response(stream).text()).toBe("abcdefghi");
});

test("watchHead passes each chunk on before the start is complete, then hands over a copy of the start once", async () => {
  const { stream, next } = gated(['{"model":', '"llama3",', '"x":1}']);
  const seen: string[] = [];
  const reader = watchHead(stream, 12, (head) => seen.push(text(head))).stream.getReader();
  const first = reader.read();
  next();
  expect(text((await first).value!)).toBe('{"model":');
  expect(seen).toEqual([]); // passed on, nothing held back, the start not yet complete
  const second = reader.read();
  next();
  expect(text((await second).value!)).toBe('"llama3",');
  expect(seen).toEqual(['{"model":"ll']); // 12 bytes: the rest of the chunk is not kept
  const third = reader.read();
  next();
  expect(text((await third).value!)).toBe('"x":1}');
  const end = reader.read();
  next();
  expect((await end).done).toBe(true);
  expect(seen).toHaveLength(1);
});

test("watchHead: a stream shorter than the start is handed over whole at its end; one cancelled or failed early, what had passed", async () => {
  const seen: string[] = [];
  expect(await new Response(watchHead(new Blob(["ab", "c"]).stream(), 100, (h) => seen.push(text(h))).stream).text()).toBe("abc");
  expect(seen).toEqual(["abc"]);
  const { stream, next } = gated(["ab", "cd"]);
  const reader = watchHead(stream, 100, (h) => seen.push(text(h))).stream.getReader();
  const first = reader.read();
  next();
  await first;
  await reader.cancel(); // an upload the client left, an upstream that answered early
  expect(seen).toEqual(["abc", "ab"]);
  let fail: (e: Error) => void = () => {};
  const failing = new ReadableStream<Uint8Array>({
    start(ctrl) {
      ctrl.enqueue(new TextEncoder().encode('{"model":"m'));
      fail = (e) => ctrl.error(e);
    },
  });
  const r2 = watchHead(failing, 100, (h) => seen.push(text(h))).stream.getReader();
  await r2.read();
  fail(new Error("too slow")); // the slow-body floor's 408
  await expect(r2.read()).rejects.toThrow("too slow");
  expect(seen).toEqual(["abc", "ab", '{"model":"m']);
});

test("watchHead's take hands over what has passed at once, and only once (a record made before the upload ended)", async () => {
  const { stream, next } = gated(['{"model":"m",', '"rest":1}']);
  const seen: string[] = [];
  const watched = watchHead(stream, 100, (h) => seen.push(text(h)));
  const reader = watched.stream.getReader();
  const first = reader.read();
  next();
  await first;
  watched.take();
  expect(seen).toEqual(['{"model":"m",']);
  const second = reader.read();
  next();
  await second;
  const end = reader.read();
  next();
  await end;
  expect(seen).toEqual(['{"model":"m",']); // not again at the end
});
