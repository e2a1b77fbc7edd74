// Requests naming models no machine holds, with several machines: each miss used to read every awake
// machine's model list again, so made-up names turned into as many /api/tags requests to every machine.
import { afterEach, expect, test } from "bun:test";
import { fakeModel } from "../../src/sim/fake-ollama.ts";
import { type FleetHarness, startFleetHarness } from "../helpers.ts";

let h: FleetHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const chat = (model: string) =>
  h!.api("/api/chat", { method: "POST", body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], stream: false }) });
const tagsRequests = () => h!.big.ollama.tagsRequests + h!.small.ollama.tagsRequests;

async function bothOn() {
  h = await startFleetHarness({ on: ["big", "small"] });
  for (const u of h.deps.fleet.units) await u.monitor.tick();
  expect(h.deps.fleet.units.map((u) => u.monitor.state)).toEqual(["on", "on"]);
}

test("200 chats naming different unknown models are 404s that read each machine's list at most once a second", async () => {
  await bothOn();
  const before = tagsRequests();
  const started = performance.now();
  const statuses: number[] = [];
  // 20 at a time: concurrent misses share one read per machine.
  for (let batch = 0; batch < 10; batch++) {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => chat(`made-up-${batch}-${i}:1b`)));
    for (const res of answers) {
      statuses.push(res.status);
      await res.body?.cancel();
    }
  }
  const seconds = (performance.now() - started) / 1000;
  expect(new Set(statuses)).toEqual(new Set([404]));
  const read = tagsRequests() - before;
  // Once a second per machine (a monitor's poll may add one): not one read per miss, 400 before.
  expect(read).toBeLessThanOrEqual(2 * (Math.ceil(seconds) + 1) + 2);
  expect(read).toBeLessThan(40);
  expect(h!.big.packets).toHaveLength(0);
});

test("a model that appears on a machine meanwhile is found within the refresh period", async () => {
  await bothOn();
  const res = await chat("fresh:1b"); // a miss: the lists were just read, and the next read waits a second
  expect(res.status).toBe(404);
  await res.body?.cancel();
  h!.small.ollama.models.push(fakeModel("fresh:1b", 1_000_000_000, "llama", "1B")); // pulled without the gateway
  const deadline = performance.now() + 5000;
  let status = 404;
  while (status === 404 && performance.now() < deadline) {
    const again = await chat("fresh:1b");
    status = again.status;
    await again.body?.cancel();
    if (status === 404) await Bun.sleep(100);
  }
  expect(status).toBe(200);
  expect(h!.small.ollama.requests.some((r) => r.path === "/api/chat" && r.body.includes("fresh:1b"))).toBe(true);
});
