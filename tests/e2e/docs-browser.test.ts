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
    await page.goto(h.url + "/redoc"); // the old service's second docs page leads to the same one
    await page.locator(".swagger-ui .info .title").filter({ hasText: "ollama-gate" }).waitFor({ timeout: 15_000 });
    await page.locator(".opblock-summary-path", { hasText: "/arrancar" }).first().waitFor();
    expect([...origins]).toEqual([h.url]);
    await page.close();
  });
});
