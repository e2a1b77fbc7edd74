// The dashboard in Chromium, for what a first hour with it showed: the models Ollama reports appear once a
// machine wakes (no reload), each card says when the machine goes back to sleep (or why it will not), and
// "No leases" stays inside its card.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { chromiumMissing, chromiumPerTest } from "../browser.ts";
import { type Harness, json, KEY, startHarness } from "../helpers.ts";

const missing = chromiumMissing;

describe.skipIf(missing !== null)(`Dashboard idle deadline, models, leases in Chromium${missing ? ` (skipped: ${missing})` : ""}`, () => {
  // A gateway per test and contexts of its own (chromiumPerTest): a test that fails leaves no lease, machine
  // on or dead browser behind for the next.
  let h: Harness;
  let toClose: Harness | undefined;
  const chromium = chromiumPerTest();
  beforeEach(async () => {
    h = toClose = await startHarness({ machine: { bootDelayMs: 300 } });
  });
  afterEach(async () => {
    const done = toClose;
    toClose = undefined;
    await done?.close();
  });

  async function dashboard(): Promise<{ page: Page; errors: string[]; close: () => Promise<void> }> {
    const { context, page, errors } = await chromium.dashboard(h.url, KEY, { viewport: { width: 1280, height: 800 } });
    await card(page).waitFor();
    return { page, errors, close: () => context.close() };
  }

  const card = (page: Page) => page.locator('#machines article.machine[data-machine="default"]');
  const stateIs = (page: Page, state: string) => page.locator(`#machines article.machine[data-machine="default"][data-state="${state}"]`).waitFor();

  test("Wake, then On: the models Ollama reports appear without a reload; while the lease holds it, no idle deadline", async () => {
    const s = await dashboard();
    await stateIs(s.page, "off");
    expect(await card(s.page).locator("ul.models").textContent()).toContain("No models known");
    await card(s.page).getByRole("button", { name: "Wake", exact: true }).click();
    await stateIs(s.page, "on");
    await card(s.page).locator("ul.models li", { hasText: "llama3.2:3b" }).waitFor();
    // The lease holds it: the line above says so, and no deadline is shown.
    await card(s.page).locator("ul.leases li.lease", { hasText: "dashboard" }).waitFor();
    expect(await card(s.page).locator(".idle").count()).toBe(0);
    await card(s.page).getByRole("button", { name: "Release", exact: true }).click();
    await stateIs(s.page, "off");
    expect(s.errors).toEqual([]);
    await s.close();
  }, 30_000);

  test('"No leases" is drawn inside its card', async () => {
    const s = await dashboard();
    const none = card(s.page).locator("ul.leases li.none");
    await none.waitFor();
    // Measured in one go in the page: an event or the models' load redraws the card, and an element read
    // between two calls may be gone (boundingBox() null).
    const { inner, outer, heading } = await card(s.page).evaluate((el) => {
      // The page's DOM, typed by hand: the tests compile without the DOM library.
      type Box = { getBoundingClientRect(): { x: number; width: number } };
      type Node = Box & { querySelector(q: string): Node | null; previousElementSibling: Node | null };
      const box = (e: Box) => {
        const r = e.getBoundingClientRect();
        return { x: r.x, width: r.width };
      };
      const leases = (el as unknown as Node).querySelector("ul.leases")!;
      return { inner: box(leases.querySelector("li.none")!), outer: box(el as unknown as Box), heading: box(leases.previousElementSibling!) };
    });
    expect(inner.x).toBeGreaterThanOrEqual(outer.x);
    expect(inner.x + inner.width).toBeLessThanOrEqual(outer.x + outer.width);
    // Its text starts where the card's other text does (the "Leases" heading above it), not in the card's padding.
    expect(Math.round(inner.x)).toBe(Math.round(heading.x));
    await s.close();
  });

  test("a machine a request woke says when it sleeps if idle (the browser's HH:MM); one switched on by hand says it has no idle shutdown", async () => {
    const s = await dashboard();
    await stateIs(s.page, "off");
    const res = await h.api("/api/generate", { method: "POST", body: JSON.stringify({ model: "llama3.2:3b", prompt: "x" }) });
    await res.text();
    await stateIs(s.page, "on");
    const idle = card(s.page).locator(".idle");
    await idle.filter({ hasText: /^Sleeps at \d\d:\d\d if idle$/ }).waitFor();
    const at = (await json(h.api("/machines/default"))).idle_shutdown_at as string;
    expect(Date.parse(at) - Date.now()).toBeGreaterThan(29 * 60_000); // the default 30 minutes
    const expected = await s.page.evaluate((iso) => {
      const d = new Date(iso);
      return `Sleeps at ${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")} if idle`;
    }, at);
    // The request's end moves the deadline; the page follows it over /events.
    await idle.filter({ hasText: expected }).waitFor();

    await h.api("/shutdown", { method: "POST" });
    await stateIs(s.page, "off");
    h.sim.boot(); // someone presses the power button
    await h.sim.waitFor("on");
    await h.deps.monitor.tick();
    await stateIs(s.page, "on");
    await idle.filter({ hasText: "Switched on by hand: no idle shutdown" }).waitFor();
    expect(s.errors).toEqual([]);
    await s.close();
  }, 30_000);
});
