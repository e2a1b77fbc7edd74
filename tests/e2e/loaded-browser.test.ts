// The dashboard's card says which models the machine has in memory (GET /machines' `loaded`), as text: a name
// Ollama sent that looks like markup stays text.
import { afterEach, describe, expect, test } from "bun:test";
import { chromiumMissing, chromiumPerTest } from "../browser.ts";
import { type Harness, KEY, startHarness } from "../helpers.ts";

const HOSTILE = `x<img src=/nope onerror="window.__pwned=1">:1b`;

describe.skipIf(chromiumMissing !== null)(
  `The card's models in memory, in Chromium${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ""}`,
  () => {
    let h: Harness | undefined;
    const chromium = chromiumPerTest();
    afterEach(async () => {
      await h?.close();
      h = undefined;
    });

    test("the models Ollama has loaded are listed on the card, as text", async () => {
      h = await startHarness({ on: true });
      await h.deps.monitor.tick(); // seen on: what it has loaded is read from the next probe
      h.sim.ollama.markLoaded("llama3.2:3b");
      h.sim.ollama.markLoaded(HOSTILE);
      await h.deps.monitor.tick();
      const { page, errors } = await chromium.dashboard(h.url, KEY);
      const line = page.locator('#machines article.machine[data-machine="default"] p.loaded');
      await line.waitFor();
      const text = (await line.textContent()) ?? "";
      expect(text).toStartWith("In memory: llama3.2:3b (2.0 GB, until ");
      expect(text).toContain(HOSTILE);
      expect(await page.locator("#machines img").count()).toBe(0);
      expect(await page.evaluate("window.__pwned")).toBeUndefined();
      expect(errors).toEqual([]);
    });

    test("nothing in memory: no line", async () => {
      h = await startHarness({ on: true });
      await h.deps.monitor.tick();
      await h.deps.monitor.tick(); // the probe that reads what is loaded: nothing
      const { page } = await chromium.dashboard(h.url, KEY);
      const card = page.locator('#machines article.machine[data-machine="default"]');
      await card.locator("ul.models li").first().waitFor();
      expect(await card.locator("p.loaded").isHidden()).toBe(true);
    });
  },
);
