import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Harness, startHarness } from "../helpers.ts";

// The gateway asks for full collections while requests come in and after they end (src/lib/gc.ts): here
// through real requests, with each collection counted instead of run.
let h: Harness;
let collections = 0;
let onCollect: (() => void) | null = null;
const collected = () => new Promise<void>((resolve) => (onCollect = resolve));

beforeAll(async () => {
  h = await startHarness({
    on: true,
    deps: {
      collect: () => {
        collections++;
        onCollect?.();
      },
    },
  });
});
afterAll(() => h.close());

test("requests are followed by a collection, and a gateway left quiet makes no more", async () => {
  const next = collected();
  const res = await h.api("/api/chat", { method: "POST", body: JSON.stringify({ model: "llama3.2:3b", messages: [], stream: true }) });
  expect(res.status).toBe(200);
  await res.text();
  await next;
  // Work seen after the first collection earns one more; after that the timer stops. Proving that nothing
  // happens needs a bound: a second and a half is more than one interval (1 s) past the last.
  await Bun.sleep(1200);
  const settled = collections;
  await Bun.sleep(1500);
  expect(collections).toBe(settled);
}, 15_000);
