// The dashboard's Usage view in a real browser: tokens per day stacked by key (and by model, by person), energy per
// machine with what was saved, the top keys, people and models; uPlot served by the gateway under the page's CSP;
// light, dark and a 375 px phone without sideways scrolling; a `user` session sees its own key only.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { chromiumMissing, chromiumPerTest } from "../browser.ts";
import { type Harness, KEY, startHarness } from "../helpers.ts";

const missing = chromiumMissing;
// UPDATE_SCREENSHOTS=1 writes them over the README's (docs/), else they go to a temp dir (as ui-browser.test.ts).
const SHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? join(import.meta.dir, "..", "..", "docs") : mkdtempSync(join(tmpdir(), "ollama-gate-shots-"));
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 740 };
const USER_KEY = "usage-user-key-4c3b2a19";
const OTHER_KEY = "usage-other-key-8d7e6f50";

/** A standing-in answer of /usage and /energy for 30 days (the routes' documented JSON), by the query asked. */
function standIn(url: URL, onlyKey?: string): unknown {
  const days = (from: string) => {
    const start = new Date(`${from}T00:00:00`);
    return Array.from({ length: 30 }, (_, i) => {
      const d = new Date(start);
      d.setDate(d.getDate() + i);
      return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
    });
  };
  if (url.pathname === "/energy") {
    const hours = (Date.parse(url.searchParams.get("to")!) - Date.parse(url.searchParams.get("from")!)) / 3_600_000;
    const on = Math.min(hours, 3 + ((Date.parse(url.searchParams.get("from")!) / 86_400_000) % 5));
    const machine = (name: string, w: number) => ({
      name,
      on_hours: on,
      kwh: (on * w) / 1000,
      idle_kwh: (on * w) / 2000,
      kwh_if_always_on: (hours * w) / 1000,
      saved_kwh: ((hours - on) * w) / 1000,
      cost: (on * w * 0.3) / 1000,
      saved_cost: ((hours - on) * w * 0.3) / 1000,
      currency: "EUR",
      measured: name === "big",
    });
    return { machines: [machine("big", 250), machine("small", 60), { ...machine("attic", 0), kwh: null, cost: null, saved_kwh: null, saved_cost: null, idle_kwh: null, kwh_if_always_on: null }] };
  }
  const fields = url.searchParams.get("group_by")!.split(",");
  const field = fields[0] as "key" | "model" | "user";
  const names = { key: ["family-chat", "agents", "scripts", "ops"], model: ["llama3.1:8b", "qwen2.5:7b", "nomic-embed-text", "other"], user: ["ana@home", "ben@home", null] }[field];
  const rows = days(url.searchParams.get("from")!).flatMap((day, i) =>
    names.map((name, j) => ({
      [field]: name,
      day,
      requests: 3 + ((i * (j + 1)) % 7),
      errors: 0,
      prompt_tokens: 400 * (j + 1) + 37 * ((i * 3) % 11),
      completion_tokens: (2000 + 131 * ((i * (j + 2)) % 13)) / (j + 1),
      unreported: j === 1 ? 1 : 0,
      generation_s: 10,
      load_s: 1,
      ttfb_ms_p50: 300,
      wake_wait_s: 0,
      energy_kwh: 0.01 * (j + 1),
    })),
  );
  return { rows: onlyKey && field === "key" ? rows.filter((r) => r.key === onlyKey) : rows, totals: {} };
}

describe.skipIf(missing !== null)(`Usage view in Chromium${missing ? ` (skipped: ${missing})` : ""}`, () => {
  const chromium = chromiumPerTest();
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  afterAll(() => {
    if (process.env.UPDATE_SCREENSHOTS !== "1") rmSync(SHOTS, { recursive: true, force: true });
  });

  async function gateway() {
    const { dir, cleanup } = { dir: mkdtempSync(join(tmpdir(), "ollama-gate-usage-keys-")), cleanup: () => {} };
    const keysFile = join(dir, "keys.yaml");
    writeFileSync(keysFile, `keys:\n  - name: family-chat\n    key: "${USER_KEY}"\n    role: user\n  - name: agents\n    key: "${OTHER_KEY}"\n    role: inference\n`);
    h = await startHarness({ env: { KEYS_FILE: keysFile } });
    void cleanup;
    return h;
  }

  /** The dashboard logged in with `key`, on its Usage view; every request recorded, the stand-in answering for now. */
  async function usageView(key: string, options: Parameters<BrowserContext["newPage"]>[0] & Record<string, unknown> = { viewport: DESKTOP }, onlyKey?: string) {
    const gw = h!;
    const { context, page, errors } = await chromium.dashboard(gw.url, key, options);
    const failed: string[] = [];
    page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
    page.on("response", (r) => r.status() >= 400 && failed.push(`${r.status()} ${new URL(r.url()).pathname}`));
    await context.route(
      (u) => u.origin === gw.url && (u.pathname === "/usage" || u.pathname === "/energy"),
      (route) => route.fulfill({ json: standIn(new URL(route.request().url()), onlyKey) }),
    );
    await page.locator("#nav-usage").click();
    await page.locator('main#usage[aria-busy="false"]').waitFor();
    return { context, page, errors, failed };
  }

  const legend = (page: Page, panel: string) => page.locator(`#${panel} .legend li`);

  test("tokens per day stacked by key, by model, by person; energy per machine; top tables; uPlot from the gateway", async () => {
    const gw = await gateway();
    const { page, errors, failed } = await usageView(KEY);
    expect(await page.locator("main#machines").isHidden()).toBe(true);
    expect(await page.locator("#nav-usage").getAttribute("aria-current")).toBe("page");
    expect(await page.locator("#usage-scope").textContent()).toContain("Every key");
    // uPlot drew on a canvas, loaded from the gateway's own files.
    await page.locator("#tokens-chart .uplot canvas").waitFor();
    expect(await page.evaluate("typeof uPlot")).toBe("function");
    expect(await legend(page, "usage-tokens").evaluateAll((els) => els.map((e) => (e as any).dataset.name))).toEqual(["family-chat", "ops", "agents", "scripts"]);
    await page.locator('button[data-stack="model"]').click();
    await page.locator('#usage-tokens[data-stacked-by="model"]').waitFor();
    expect(await legend(page, "usage-tokens").first().getAttribute("data-name")).toBe("llama3.1:8b");
    await page.locator('button[data-stack="user"]').click();
    expect(await legend(page, "usage-tokens").evaluateAll((els) => els.map((e) => (e as any).dataset.name))).toEqual(["ana@home", "ben@home", "(no person)"]);
    expect(await page.locator('button[data-stack="user"]').getAttribute("aria-pressed")).toBe("true");
    // Energy: the machines with watts stacked, "Saved" drawn over them; the one without is named, never given a figure.
    await page.locator("#energy-chart .uplot canvas").waitFor();
    expect(await legend(page, "usage-energy").evaluateAll((els) => els.map((e) => (e as any).dataset.name))).toEqual(["big", "small", "Saved"]);
    expect(await page.locator("#energy-summary").textContent()).toMatch(/kWh \(€?[\d.,]+.*\) used, .* saved against always on\. No power_watts for attic\./);
    expect(await page.locator('#energy-table tr[data-name="attic"]').textContent()).toContain("–");
    expect(await page.locator('#energy-table tr[data-name="big"]').textContent()).toContain("measured");
    // The top tables: most tokens first.
    expect(await page.locator("#top-keys tr").first().getAttribute("data-name")).toBe("family-chat");
    expect(await page.locator("#top-models tr").count()).toBe(4);
    expect(await page.locator("#top-people tr").count()).toBe(3);
    expect(errors).toEqual([]);
    expect(failed).toEqual([]);
    // The files the view loaded are the gateway's: uPlot's as the npm package ships them.
    const served = await (await fetch(`${gw.url}/ui/assets/uPlot.iife.min.js`)).text();
    expect(served).toBe(readFileSync(join(import.meta.dir, "..", "..", "node_modules", "uplot", "dist", "uPlot.iife.min.js"), "utf8"));
    await page.evaluate("document.activeElement?.blur()");
    await page.locator('button[data-stack="key"]').click();
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, "usage-light.png"), fullPage: true });
  }, 30_000);

  test("dark theme and a 375 px phone: readable, no sideways scrolling", async () => {
    await gateway();
    const dark = await usageView(KEY, { viewport: DESKTOP, colorScheme: "dark" });
    await dark.page.locator("#energy-chart .uplot canvas").waitFor();
    const bg = await dark.page.evaluate("getComputedStyle(document.body).backgroundColor");
    expect(bg).not.toBe("rgb(246, 247, 248)");
    await dark.page.screenshot({ path: join(SHOTS, "usage-dark.png"), fullPage: true });
    const phone = await usageView(KEY, { viewport: PHONE, isMobile: true, hasTouch: true });
    await phone.page.locator("#energy-chart .uplot canvas").waitFor();
    expect(await phone.page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(PHONE.width);
    await phone.page.screenshot({ path: join(SHOTS, "usage-phone.png"), fullPage: true });
    expect([...dark.errors, ...phone.errors]).toEqual([]);
  }, 30_000);

  test("a user session is told it sees its own key only", async () => {
    await gateway();
    const { page } = await usageView(USER_KEY, { viewport: DESKTOP }, "family-chat");
    expect(await page.locator("#usage-scope").textContent()).toContain("Your key's usage only: family-chat");
    expect(await page.locator("#top-keys tr").evaluateAll((els) => els.map((e) => (e as any).dataset.name))).toEqual(["family-chat"]);
  }, 30_000);
});
