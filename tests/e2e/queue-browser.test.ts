// The dashboard's card shows a machine's queue (GET /machines' `running` and `queue`) and follows it as it
// moves, though a queue's moves send no event: the card reads the machine again while someone waits.
import { afterEach, describe, expect, test } from "bun:test";
import { chromiumMissing, chromiumPerTest } from "../browser.ts";
import { type Harness, KEY, startHarness, until } from "../helpers.ts";

const generate = (h: Harness, prompt: string) =>
  h.api("/api/generate", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "gated", prompt }) });

describe.skipIf(chromiumMissing !== null)(`The card's queue, in Chromium${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ""}`, () => {
  let h: Harness | undefined;
  const chromium = chromiumPerTest();
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test("one running and one waiting are shown; when the line empties, the card says so without a reload", async () => {
    h = await startHarness({ on: true, env: { MAX_CONCURRENT: "1" } });
    await h.deps.monitor.tick();
    const queue = h.deps.fleet.units[0]!.queue;
    const running = generate(h, "first");
    await until(() => h!.sim.ollama.atGate === 1);
    const waiting = generate(h, "second");
    await until(() => queue.depth === 1);
    const { page, errors } = await chromium.dashboard(h.url, KEY);
    const line = page.locator('#machines article.machine[data-machine="default"] p.queue');
    await line.waitFor();
    expect(await line.textContent()).toMatch(/^Queue: 1 running, 1 waiting \(next: api-key-1 \d+ s\)$/);
    h.sim.ollama.release();
    await until(() => h!.sim.ollama.atGate === 1); // the second runs now
    await page.locator('#machines article.machine[data-machine="default"] p.queue', { hasText: /^Queue: 1 running, none waiting$/ }).waitFor();
    h.sim.ollama.release();
    await (await running).text();
    await (await waiting).text();
    expect(errors).toEqual([]);
  });
});
