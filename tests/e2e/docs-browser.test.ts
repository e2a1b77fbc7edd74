// The docs page in a real browser: it must render from the gateway alone, with no request to another origin.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chromiumMissing, chromiumPerTest } from "../browser.ts";
import { type Harness, startHarness } from "../helpers.ts";

const missing = chromiumMissing;

describe.skipIf(missing !== null)(`Swagger UI in Chromium${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let h: Harness;
  const chromium = chromiumPerTest();
  beforeAll(async () => {
    h = await startHarness({ on: true });
  });
  afterAll(async () => {
    await h?.close();
  });

  test("renders the API from /openapi.json, every request to the gateway's own origin", async () => {
    const page = await (await chromium.newContext()).newPage();
    const origins = new Set<string>();
    page.on("request", (req) => void origins.add(new URL(req.url()).origin));
    // Anything for another origin is recorded and never sent: a test must not reach past loopback, even failing.
    await page.route(
      (url) => url.origin !== h.url,
      (route) => route.abort(),
    );
    await page.goto(h.url + "/docs");
    await page.locator(".swagger-ui .info .title").filter({ hasText: "ollama-gate" }).waitFor({ timeout: 15_000 });
    await page.locator(".opblock-summary-path", { hasText: "/arrancar" }).first().waitFor();
    expect([...origins]).toEqual([h.url]);
    await page.close();
  });

  test("ReDoc at /redoc renders the same document, offline: no console error, nothing from another origin", async () => {
    const page = await (await chromium.newContext()).newPage();
    const origins = new Set<string>();
    const errors: string[] = [];
    page.on("request", (req) => void origins.add(new URL(req.url()).origin));
    page.on("console", (msg) => void (msg.type() === "error" && errors.push(msg.text())));
    page.on("pageerror", (err) => void errors.push(err.message));
    await page.route(
      (url) => url.origin !== h.url,
      (route) => route.abort(),
    );
    await page.goto(h.url + "/redoc");
    await page.locator("h1", { hasText: "ollama-gate" }).first().waitFor({ timeout: 15_000 });
    // An operation of the old service's (/arrancar), by its summary as ReDoc titles it, and its path beside it.
    const arrancar = page.locator("h2", { hasText: "Take a lease on the machine, and wake it if it sleeps" }).first();
    await arrancar.waitFor();
    expect(await page.locator("[data-section-id$='~1arrancar/post']").count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    expect([...origins].filter((o) => o !== "null")).toEqual([h.url]);
    await page.close();
  });
});
