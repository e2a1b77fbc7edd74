// The dashboard's Usage view in a real browser: tokens per day stacked by key (and by model, by person), energy per
// machine with what was saved, the top keys, people and models; uPlot served by the gateway under the page's CSP;
// light, dark and a 375 px phone without sideways scrolling; a `user` session sees its own key only.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import type { UsageRecord } from "../../src/core/usage/types.ts";
import { chromiumMissing, chromiumPerTest } from "../browser.ts";
import { type Harness, KEY, startHarness } from "../helpers.ts";

const missing = chromiumMissing;
// UPDATE_SCREENSHOTS=1 writes them over the README's (docs/), else they go to a temp dir (as ui-browser.test.ts).
const SHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? join(import.meta.dir, "..", "..", "docs") : mkdtempSync(join(tmpdir(), "ollama-gate-shots-"));
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 740 };
const USER_KEY = "usage-user-key-4c3b2a19";
const OTHER_KEY = "usage-other-key-8d7e6f50";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A record as the account step leaves it, `at` ms ago. */
function record(at: number, key: string, user: string | null, model: string, prompt: number, completion: number | null): UsageRecord {
  return {
    at,
    key,
    user,
    model,
    machine: "default",
    kind: model.includes("embed") ? "embed" : "chat",
    status: 200,
    complete: true,
    figures: { promptTokens: prompt, completionTokens: completion, generationS: 4, loadS: 0.5 },
    ttfbMs: 300,
    wakeWaitS: 0,
    totalS: 4.5,
  };
}

/**
 * Thirty days of a household, written into the gateway's own usage store: each day the machine is on for two to
 * three hours and the keys (one of them with people behind it) chat and embed in that time. Every time is in the
 * past, so the days and the energy are what the routes will read back.
 */
function seedThirtyDays(h: Harness) {
  const store = h.deps.usageStore;
  const start = Date.now() - 29 * DAY - 3 * HOUR;
  for (let d = 0; d < 30; d++) {
    const on = start + d * DAY;
    store.powerChanged("default", "waking", on);
    store.powerChanged("default", "on", on + 60_000);
    store.powerChanged("default", "off", on + 2 * HOUR + (d % 3) * 20 * 60_000);
    const at = (minute: number) => on + (5 + minute) * 60_000;
    const wave = (n: number) => Math.round(n * (1 + 0.4 * Math.sin(d / 2.5)));
    for (let i = 0; i < 3; i++) store.add(record(at(i), "family-chat", "ana@home", "llama3.2:3b", wave(900), wave(2600)));
    for (let i = 0; i < 2; i++) store.add(record(at(10 + i), "family-chat", "ben@home", "qwen2.5-coder:7b", wave(600), wave(1500)));
    store.add(record(at(20), "agents", null, "qwen2.5-coder:7b", wave(2400), d % 4 === 0 ? null : wave(1900)));
    store.add(record(at(30), "api-key-1", null, "nomic-embed-text:latest", wave(3000), 0));
  }
  store.flush();
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
    const dir = mkdtempSync(join(tmpdir(), "ollama-gate-usage-keys-"));
    const keysFile = join(dir, "keys.yaml");
    writeFileSync(
      keysFile,
      `keys:\n  - name: family-chat\n    key: "${USER_KEY}"\n    role: user\n    user_header: X-Person\n  - name: agents\n    key: "${OTHER_KEY}"\n    role: inference\n`,
    );
    // The machine is on and its models known before the chat: a model no machine reports holding is counted as "other".
    h = await startHarness({
      on: true,
      env: { KEYS_FILE: keysFile, POWER_WATTS_ON: "250", POWER_WATTS_OFF: "3", ENERGY_PRICE_PER_KWH: "0.30", TZ: "UTC" },
    });
    const known = async () => ((await (await h!.api("/machines")).json()) as { machines: { models: string[] }[] }).machines[0]!.models;
    for (const deadline = Date.now() + 10_000; !(await known()).includes("llama3.2:3b"); await Bun.sleep(50)) {
      if (Date.now() > deadline) throw new Error("the machine's models never became known");
    }
    rmSync(dir, { recursive: true, force: true });
    seedThirtyDays(h);
    return h;
  }

  /** The dashboard logged in with `key`, on its Usage view, every failed response and page error recorded. */
  async function usageView(key: string, options: Record<string, unknown> = { viewport: DESKTOP }) {
    const gw = h!;
    const { context, page, errors } = await chromium.dashboard(gw.url, key, { timezoneId: "UTC", ...options });
    const failed: string[] = [];
    page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
    page.on("response", (r) => r.status() >= 400 && failed.push(`${r.status()} ${new URL(r.url()).pathname}`));
    await page.locator("#nav-usage").click();
    await page.locator('main#usage[aria-busy="false"]').waitFor();
    return { context, page, errors, failed };
  }

  /** One real chat through the gateway, by the user key with a person named, counted by the account step. */
  async function chatAs(person: string) {
    const gw = h!;
    const body = JSON.stringify({ model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], stream: false });
    const res = await fetch(`${gw.url}/api/chat`, {
      method: "POST",
      headers: { "x-api-key": USER_KEY, "x-person": person, "content-type": "application/json" },
      body,
    });
    expect(res.status).toBe(200);
    await res.text();
    // The record is left once the answer has ended, and written at most a second later: polled, with a deadline.
    const people = async () => ((await (await gw.api("/usage?group_by=user")).json()) as { rows: { user: string | null }[] }).rows.map((r) => r.user);
    for (const deadline = Date.now() + 10_000; !(await people()).includes(person); await Bun.sleep(100)) {
      if (Date.now() > deadline) throw new Error(`${person}'s chat never reached /usage`);
    }
  }

  const names = (page: Page, selector: string) =>
    page.locator(selector).evaluateAll((els) => els.map((e) => (e as unknown as { dataset: { name: string } }).dataset.name));

  test("tokens per day stacked by key, by model, by person; energy with what was saved; the top tables; uPlot from the gateway", async () => {
    const gw = await gateway();
    await chatAs("cleo@home");
    const { page, errors, failed } = await usageView(KEY);
    expect(await page.locator("main#machines").isHidden()).toBe(true);
    expect(await page.locator("#nav-usage").getAttribute("aria-current")).toBe("page");
    expect(await page.locator("#usage-scope").textContent()).toContain("Every key");
    // uPlot drew on a canvas, loaded from the gateway's own files.
    await page.locator("#tokens-chart .uplot canvas").waitFor();
    expect(await page.evaluate("typeof uPlot")).toBe("function");
    expect(await names(page, "#usage-tokens .legend li")).toEqual(["family-chat", "agents", "api-key-1"]);
    await page.locator('button[data-stack="model"]').click();
    await page.locator('#usage-tokens[data-stacked-by="model"]').waitFor();
    expect(await names(page, "#usage-tokens .legend li")).toEqual(["llama3.2:3b", "qwen2.5-coder:7b", "nomic-embed-text:latest"]);
    await page.locator('button[data-stack="user"]').click();
    expect(await names(page, "#usage-tokens .legend li")).toEqual(["ana@home", "(no person)", "ben@home", "cleo@home"]);
    expect(await page.locator('button[data-stack="user"]').getAttribute("aria-pressed")).toBe("true");
    // Energy: the machine's kWh per day, "Saved" drawn over it, the price on the right axis and in the summary.
    await page.locator("#energy-chart .uplot canvas").waitFor();
    expect(await names(page, "#usage-energy .legend li")).toEqual(["default", "Saved"]);
    expect(await page.locator("#energy-summary").textContent()).toMatch(
      /^30 days: [\d.]+ kWh \(€[\d.]+\) used, [\d.]+ kWh \(€[\d.]+\) saved against always on\.$/,
    );
    expect(await page.locator('#energy-table tr[data-name="default"]').textContent()).toMatch(/kWh/);
    // The top tables, most tokens first; the requests whose tokens Ollama did not report are said, not guessed.
    expect(await names(page, "#top-keys tr")).toEqual(["family-chat", "agents", "api-key-1"]);
    expect(await page.locator('#top-keys tr[data-name="agents"]').textContent()).toContain("8 unreported");
    expect(await names(page, "#top-models tr")).toEqual(["llama3.2:3b", "qwen2.5-coder:7b", "nomic-embed-text:latest"]);
    expect(await names(page, "#top-people tr")).toEqual(["ana@home", "(no person)", "ben@home", "cleo@home"]);
    expect(errors).toEqual([]);
    expect(failed).toEqual([]);
    // The chart library is uPlot as the npm package ships it, served by the gateway.
    const served = await (await fetch(`${gw.url}/ui/assets/uPlot.iife.min.js`)).text();
    expect(served).toBe(readFileSync(join(import.meta.dir, "..", "..", "node_modules", "uplot", "dist", "uPlot.iife.min.js"), "utf8"));
    await page.locator('button[data-stack="key"]').click();
    await page.evaluate("document.activeElement?.blur()");
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, "usage-light.png"), fullPage: true });
  }, 30_000);

  test("dark theme and a 375 px phone: readable, no sideways scrolling", async () => {
    await gateway();
    const dark = await usageView(KEY, { viewport: DESKTOP, colorScheme: "dark" });
    await dark.page.locator("#energy-chart .uplot canvas").waitFor();
    expect(await dark.page.evaluate("getComputedStyle(document.body).backgroundColor")).toBe("rgb(17, 20, 23)");
    await dark.page.screenshot({ path: join(SHOTS, "usage-dark.png"), fullPage: true });
    const phone = await usageView(KEY, { viewport: PHONE, isMobile: true, hasTouch: true });
    await phone.page.locator("#energy-chart .uplot canvas").waitFor();
    expect(await phone.page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(PHONE.width);
    // The charts fit the phone's width, inside their panels.
    for (const id of ["#tokens-chart", "#energy-chart"]) {
      const box = (await phone.page.locator(`${id} canvas`).first().boundingBox())!;
      expect(box.x + box.width).toBeLessThanOrEqual(PHONE.width);
    }
    await phone.page.screenshot({ path: join(SHOTS, "usage-phone.png"), fullPage: true });
    expect([...dark.errors, ...phone.errors, ...dark.failed, ...phone.failed]).toEqual([]);
  }, 30_000);

  test("a user session sees its own key's figures only, and is told so", async () => {
    await gateway();
    await chatAs("cleo@home");
    const { page, errors, failed } = await usageView(USER_KEY);
    expect(await page.locator("#usage-scope").textContent()).toContain("Your key's usage only: family-chat");
    // /usage gave this session its key's rows alone: no other key, nor the model only another key used.
    expect(await names(page, "#top-keys tr")).toEqual(["family-chat"]);
    expect(await names(page, "#usage-tokens .legend li")).toEqual(["family-chat"]);
    expect(await names(page, "#top-models tr")).toEqual(["llama3.2:3b", "qwen2.5-coder:7b"]);
    expect(await names(page, "#top-people tr")).toEqual(["ana@home", "ben@home", "cleo@home"]);
    expect(errors).toEqual([]);
    expect(failed).toEqual([]);
  }, 30_000);
});
