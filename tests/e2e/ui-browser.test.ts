// The dashboard in a real browser: log in with the key, then wake, release, keep on, shut down and log out by
// clicking, each change arriving live over /events. Every request stays on the gateway's own loopback origin.
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { createApp } from "../../src/app.ts";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import { buildDeps, prepareFleet } from "../../src/deps.ts";
import { serve } from "../../src/http/server.ts";
import { chromiumMissing, chromiumPerTest } from "../browser.ts";
import { type Harness, KEY, nextEvent, startHarness } from "../helpers.ts";

const missing = chromiumMissing;
// Every run takes the screenshots; UPDATE_SCREENSHOTS=1 writes them over the README's (docs/), else they go to a
// temp dir, so a test run leaves the working tree as it was (their times and ages differ on every run).
const SHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? join(import.meta.dir, "..", "..", "docs") : mkdtempSync(join(tmpdir(), "ollama-gate-shots-"));
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 740 };

// Runs in the page (a string, as tsconfig has no DOM types): remembers every data-state the card of `default`
// goes through. It watches #machines as a whole, so a card re-rendered as a new element is still followed.
const RECORD_STATES = `(() => {
  const read = () => document.querySelector('article.machine[data-machine="default"]')?.dataset.state;
  window.__states = [read()];
  new MutationObserver(() => {
    const s = read();
    if (s !== window.__states.at(-1)) window.__states.push(s);
  }).observe(document.getElementById("machines"), { subtree: true, childList: true, attributes: true });
  window.__marker = 1;
})()`;

interface Session {
  context: BrowserContext;
  page: Page;
  /** Asserts no console error, no page error, no failed response (but the allowed paths), no other origin. */
  clean: (allow?: string[]) => void;
  close: () => Promise<void>;
}

describe.skipIf(missing !== null)(`Dashboard in Chromium${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let h: Harness;
  let toClose: Harness | undefined;
  const chromium = chromiumPerTest();
  // A gateway and machine per test, as a browser context: a test that fails leaves no machine on, lease or
  // session behind for the next. A boot of 1.5 s leaves "waking" on screen long enough to be seen.
  beforeEach(async () => {
    h = toClose = await startHarness({ machine: { bootDelayMs: 1500 } });
  });
  afterEach(async () => {
    const done = toClose;
    toClose = undefined;
    await done?.close();
  });
  afterAll(() => {
    if (process.env.UPDATE_SCREENSHOTS !== "1") rmSync(SHOTS, { recursive: true, force: true });
  });

  async function open(opts: Parameters<Browser["newContext"]>[0] = { viewport: DESKTOP }): Promise<Session> {
    const context = await chromium.newContext(opts);
    // Well inside bun's 30 s: a missing element fails with the locator's name, not a test timeout that kills Chromium.
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    const errors: string[] = [];
    const failed: string[] = [];
    const origins = new Set<string>();
    page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()} (${m.location().url})`));
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("request", (r) => void origins.add(new URL(r.url()).origin));
    page.on("response", (r) => r.status() >= 400 && failed.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`));
    // Anything for another origin is recorded and never sent: a test must not reach past loopback, even failing.
    await context.route(
      (url) => url.origin !== h.url,
      (route) => route.abort(),
    );
    const clean = (allow: string[] = []) => {
      const allowed = (s: string) => allow.some((a) => s.includes(a));
      expect(errors.filter((e) => !allowed(e))).toEqual([]);
      expect(failed.filter((f) => !allowed(f))).toEqual([]);
      expect([...origins]).toEqual([h.url]);
    };
    return { context, page, clean, close: () => context.close() };
  }

  /** A fresh browser logged in through the form, on the dashboard. */
  async function loggedIn(opts?: Parameters<typeof open>[0]): Promise<Session> {
    const s = await open(opts);
    await s.page.goto(h.url + "/ui");
    await s.page.locator("#key").fill(KEY);
    await Promise.all([s.page.waitForURL(h.url + "/ui"), s.page.locator('#login button[type="submit"]').click()]);
    await card(s.page).waitFor();
    return s;
  }

  const card = (page: Page) => page.locator('#machines article.machine[data-machine="default"]');
  const button = (page: Page, name: string) => card(page).getByRole("button", { name, exact: true });
  const dashboardLease = (page: Page) => card(page).locator("ul.leases li.lease", { hasText: "dashboard" });
  const stateIs = (page: Page, state: string, timeout = 20_000) =>
    page.locator(`#machines article.machine[data-machine="default"][data-state="${state}"]`).waitFor({ timeout });

  test("login page; a wrong key is refused with an alert and no cookie", async () => {
    const s = await open();
    const { page } = s;
    await page.goto(h.url + "/ui");
    expect(await page.title()).toContain("ollama-gate");
    const form = page.locator('form#login[method="post"][action="/ui/login"]');
    await form.locator('input#key[type="password"][name="key"]').waitFor();
    await form.getByRole("button", { name: "Log in" }).waitFor();
    // The favicon is public: the login page names it before any session exists. (Fetched by Playwright, from the
    // context without cookies: Chromium fails a page's own fetch of exactly /favicon.ico while requests are routed.)
    expect(await page.locator('link[rel~="icon"]').getAttribute("href")).toBe("/favicon.ico");
    const icon = await s.context.request.get(h.url + "/favicon.ico");
    expect(icon.status()).toBe(200);
    expect(icon.headers()["content-type"]).toStartWith("image/");

    await page.locator("#key").fill("not-the-key");
    const [res] = await Promise.all([page.waitForResponse((r) => r.url() === h.url + "/ui/login"), form.locator('button[type="submit"]').click()]);
    expect(res.status()).toBe(401);
    const alert = page.locator('#login-error[role="alert"]');
    expect(await alert.textContent()).toContain("not valid");
    await page.locator("form#login #key").waitFor(); // the form is back for another try
    expect(await s.context.cookies()).toEqual([]);
    // The refusal is the one expected 401; Chromium reports any document answered 401 as a console error.
    s.clean(["401 POST /ui/login", `status of 401 (Unauthorized) (${h.url}/ui/login)`]);
    await s.close();
  });

  test("the right key: an HttpOnly, SameSite=Strict og_session cookie; the key is kept nowhere in the page", async () => {
    const s = await open();
    const { page } = s;
    await page.goto(h.url + "/ui");
    await page.locator("#key").fill(KEY);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url() === h.url + "/ui/login"),
      page.locator('#login button[type="submit"]').click(),
    ]);
    expect(res.status()).toBe(303);
    await card(page).waitFor();
    expect(page.url()).toBe(h.url + "/ui");
    const cookies = await s.context.cookies();
    expect(cookies.map((c) => c.name)).toEqual(["og_session"]);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
    expect(cookies[0]!.value).not.toContain(KEY);
    // What a script on the page could read: storage, the address, the cookies it can see (none: HttpOnly).
    const visible = await page.evaluate(() => {
      const g = globalThis as any;
      return JSON.stringify([{ ...g.localStorage }, { ...g.sessionStorage }, g.location.href, g.document.cookie]);
    });
    expect(visible).not.toContain(KEY);
    expect(visible).not.toContain("og_session");
    s.clean();
    await s.close();
  });

  test("Wake shows waking then on live, with a dashboard lease; Release shuts the machine down", async () => {
    const s = await loggedIn();
    const { page } = s;
    await stateIs(page, "off");
    expect(await card(page).locator(".state").textContent()).toMatch(/off/i);
    await page.locator('#announce[aria-live="polite"]').waitFor({ state: "attached" });
    await page.evaluate(RECORD_STATES);

    await button(page, "Wake").click();
    await dashboardLease(page).waitFor();
    await stateIs(page, "on");
    // Each state arrived over /events into the same document: the marker set before the click survived.
    expect(await page.evaluate("window.__states")).toEqual(["off", "waking", "on"]);
    expect(await page.evaluate("window.__marker")).toBe(1);
    expect(await card(page).locator(".state").textContent()).toMatch(/on/i);
    await page.locator("#announce").filter({ hasText: /\S/ }).waitFor({ state: "attached" });
    await page.locator("ol.events li").first().waitFor();

    const shutdowns = h.sim.commands.length;
    await dashboardLease(page).getByRole("button", { name: "Release" }).click();
    await dashboardLease(page).waitFor({ state: "detached" });
    await stateIs(page, "off");
    expect(h.sim.commands.length).toBeGreaterThan(shutdowns); // the SSH shutdown reached the machine
    expect(h.sim.state).toBe("off");
    const states: string[] = await page.evaluate("window.__states");
    expect(states.slice(0, 3)).toEqual(["off", "waking", "on"]);
    expect(states.at(-1)).toBe("off");
    expect(states.slice(3, -1).every((x) => x === "shutting_down")).toBe(true);
    expect(await page.evaluate("window.__marker")).toBe(1);
    s.clean();
    await s.close();
  }, 60_000);

  test("Keep on toggles permanent_on and says so with aria-pressed", async () => {
    const s = await loggedIn();
    const { page } = s;
    const keep = button(page, "Keep on");
    expect(await keep.getAttribute("aria-pressed")).toBe("false");
    for (const enabled of [true, false]) {
      const event = nextEvent(h.deps, (e) => e.type === "permanent_on");
      await keep.click();
      expect((await event).data.enabled).toBe(enabled);
      await card(page).locator(`button[aria-pressed="${enabled}"]`, { hasText: "Keep on" }).waitFor();
    }
    s.clean();
    await s.close();
  });

  test("Shut down asks first: Cancel keeps the machine on, the dialog's Shut down turns it off", async () => {
    const s = await loggedIn();
    const { page } = s;
    await button(page, "Wake").click();
    await stateIs(page, "on");
    const sent = h.sim.commands.length;
    const dialog = page.locator("dialog#confirm-shutdown");

    await button(page, "Shut down").click();
    await dialog.waitFor({ state: "visible" });
    expect(await dialog.textContent()).toContain("0 running");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await card(page).getAttribute("data-state")).toBe("on");

    await button(page, "Shut down").click();
    await dialog.getByRole("button", { name: "Shut down" }).click();
    await stateIs(page, "off");
    // One shutdown for two openings of the dialog: Cancel sent none.
    expect(h.sim.commands.length).toBe(sent + 1);
    expect(h.sim.state).toBe("off");
    s.clean();
    await s.close();
  }, 60_000);

  test("screenshots at desktop and phone sizes; no sideways scrolling on a phone", async () => {
    const desk = await loggedIn();
    await button(desk.page, "Wake").click();
    await stateIs(desk.page, "on");
    await dashboardLease(desk.page).waitFor();
    await desk.page.evaluate("document.activeElement?.blur()"); // no focus ring left on Wake in the picture
    await desk.page.screenshot({ path: join(SHOTS, "dashboard-desktop.png") });

    // The phone shares the session: the same cookie, a new browser window 375 px wide.
    const phone = await open({ viewport: PHONE, storageState: await desk.context.storageState(), isMobile: true, hasTouch: true });
    await phone.page.goto(h.url + "/ui");
    await stateIs(phone.page, "on");
    await dashboardLease(phone.page).waitFor();
    expect(await phone.page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(PHONE.width);
    await phone.page.screenshot({ path: join(SHOTS, "dashboard-phone.png") });
    phone.clean();
    desk.clean();
    await phone.close();
    await desk.close();
  });

  test("Log out: the login form is back and the old cookie opens nothing", async () => {
    const s = await loggedIn();
    const { page } = s;
    const [old] = await s.context.cookies();
    const asOld = () => fetch(h.url + "/machines", { headers: { cookie: `og_session=${old!.value}` } });
    expect((await asOld()).status).toBe(200); // the cookie alone opened the API before: the 401 below is the logout's doing
    await page.locator("#logout", { hasText: "Log out" }).click();
    await page.locator('form#login input#key[type="password"]').waitFor();
    expect((await asOld()).status).toBe(401);
    s.clean();
    await s.close();
  });

  test("the gateway restarts: the page reconnects by itself, keeps its session and follows the new gateway", async () => {
    const s = await loggedIn();
    const { page } = s;
    await page.locator('#live[data-live="live"]').waitFor();
    const port = Number(new URL(h.url).port);
    await h.deps.monitor.stop();
    h.server.stop(true);
    await page.locator('#live[data-live="reconnecting"]').waitFor();
    // What a restarted gateway builds: everything anew from the same configuration (sessions from their file).
    const deps = buildDeps(h.deps.config, { logger: memoryLogger(), fastPollMs: 40 });
    await prepareFleet(deps);
    deps.monitor.start();
    const server = serve(createApp(deps), { hostname: "127.0.0.1", port });
    try {
      await page.locator('#live[data-live="live"]').waitFor({ timeout: 15_000 }); // the browser retries every ~3 s
      const keepOn = (enabled: boolean) =>
        fetch(h.url + "/machines/default/permanent_on", {
          method: "POST",
          headers: { "x-api-key": KEY, "content-type": "application/json" },
          body: JSON.stringify({ enabled }),
        });
      expect((await keepOn(true)).status).toBe(200);
      await button(page, "Keep on").and(page.locator('[aria-pressed="true"]')).waitFor();
      expect((await keepOn(false)).status).toBe(200);
      await button(page, "Keep on").and(page.locator('[aria-pressed="false"]')).waitFor();
      // While the gateway was down the browser's reconnection attempts failed: those are the only errors.
      s.clean(["ERR_CONNECTION_REFUSED", "ERR_EMPTY_RESPONSE", "/events"]);
    } finally {
      await s.close();
      server.stop(true);
      await deps.monitor.stop();
    }
    // The browser waits about 3 s between attempts, and the wait above allows 15 s: more than the default 5 s.
  }, 30_000);
});
