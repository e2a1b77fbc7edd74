// The dashboard in a real browser when the gateway ends its /events stream with an `error` event (here: a
// reload gave its key other machines): the page must take it as the end of a stream, reconnect, and follow on.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromiumMissing, chromiumPerTest } from "../browser.ts";
import { type Harness, KEY, startHarness, tempDir } from "../helpers.ts";

const USER = "dashboard-user-0123456789";
const keys = (scope: string) => `keys:\n  - { name: family, key: ${USER}, role: user${scope} }\n`;

describe.skipIf(chromiumMissing !== null)(`in Chromium${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ""}`, () => {
  let h: Harness;
  const chromium = chromiumPerTest();
  let cleanup: () => void;
  beforeAll(async () => {
    const dir = tempDir();
    cleanup = dir.cleanup;
    const file = join(dir.dir, "keys.yaml");
    writeFileSync(file, keys(", machines: [default]"));
    h = await startHarness({ on: true, env: { KEYS_FILE: file } });
  });
  afterAll(async () => {
    await h?.close();
    cleanup?.();
  });

  test("the page's stream ended with an error event: it reconnects by itself and shows what happens next", async () => {
    const { context, page, errors } = await chromium.dashboard(h.url, USER);
    try {
      await page.locator('#live[data-live="live"]').waitFor();
      expect(h.deps.eventStreams.size).toBe(1);

      // The reload ends the page's stream (its key's machines changed); the session stays valid.
      const metrics = async () => (await fetch(`${h.url}/metrics`, { headers: { "x-api-key": KEY } })).text();
      expect(await metrics()).not.toContain('ollama_gate_event_subscribers_dropped_total{reason="revoked"} 1');
      writeFileSync(h.deps.config.keysFile!, keys(""));
      expect(h.deps.keys.reload({})).toBe(true);
      // The browser reconnects (a new stream is counted), and the page is live again.
      const deadline = Date.now() + 15_000;
      let reconnected = false;
      while (!reconnected && Date.now() < deadline) {
        reconnected = (await metrics()).includes('ollama_gate_event_subscribers_dropped_total{reason="revoked"} 1') && h.deps.eventStreams.size === 1;
        if (!reconnected) await Bun.sleep(100);
      }
      expect(reconnected).toBe(true);
      await page.locator('#live[data-live="live"]').waitFor();
      // And it follows what happens from then on: a lease taken elsewhere shows on the card.
      await fetch(`${h.url}/arrancar?holder=after-reconnect`, { method: "POST", headers: { "x-api-key": USER } });
      await page.locator('#machines article.machine[data-machine="default"]', { hasText: "after-reconnect" }).waitFor();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
