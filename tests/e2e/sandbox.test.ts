// A compromised Ollama answers HTML with a script. Whatever path brings it to a browser (Ollama's API, the
// OpenAI one, the old /ollama/* routes, a pinned machine, a /k/<key>/ URL), the answer is sandboxed and never
// sniffed, and the dashboard's session cookie opens none of it: the script can neither run on the gateway's
// origin nor act as the admin who opened the link.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { HOSTILE_HTML_HEADERS, type HostileOllama, startHostileOllama } from "../../src/sim/hostile-ollama.ts";
import { chromiumMissing, chromiumPerTest } from "../browser.ts";
import { type Harness, KEY, startHarness } from "../helpers.ts";

let upstream: HostileOllama;
let h: Harness;

beforeAll(async () => {
  // Answers the monitor's probe as Ollama does (so the machine counts as on), and everything else with the page.
  upstream = await startHostileOllama();
  upstream.setMode("html");
  h = await startHarness({ on: true, env: { OLLAMA_PORT: String(upstream.port) } });
});

afterAll(async () => {
  await h?.close();
  await upstream?.stop();
});

const chat = JSON.stringify({ model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }] });
// Every row has its three elements: bun takes a missing last argument for a done callback.
const PATHS: [string, string, RequestInit][] = [
  ["Ollama's API", "/api/anything", {}],
  ["the OpenAI API", "/v1/anything", {}],
  ["a chat", "/api/chat", { method: "POST", body: chat, headers: { "content-type": "application/json" } }],
  ["the old routes", "/ollama/chat", { method: "POST", body: chat, headers: { "content-type": "application/json" } }],
  ["a pinned machine", "/machines/default/api/anything", {}],
  ["a /k/ URL", `/k/${KEY}/api/anything`, {}],
  ["a pinned /k/ URL", `/k/${KEY}/machines/default/v1/anything`, {}],
];

test.each(PATHS)("through %s, the upstream's HTML comes sandboxed and never sniffed, its own policy replaced", async (_what, path, init) => {
  const res = await h.api(path, init);
  await res.arrayBuffer();
  expect(res.headers.get("content-type")).toContain("text/html"); // it did come from the hostile upstream
  const csp = res.headers.get("content-security-policy") ?? "";
  expect(csp).toContain("sandbox");
  expect(csp).toContain("default-src 'none'");
  expect(csp).not.toContain("unsafe-inline"); // the upstream's own policy, which would let its script run
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  // Nothing that would act on the gateway's whole site: clear its cookies, pin HSTS, send reports, redirect.
  for (const name of Object.keys(HOSTILE_HTML_HEADERS).filter((n) => n !== "content-security-policy" && n !== "referrer-policy")) {
    expect([name, res.headers.get(name)]).toEqual([name, null]);
  }
});

test("the gateway's own pages keep their own policy", async () => {
  const ui = await fetch(`${h.url}/ui`);
  expect(ui.headers.get("content-security-policy")).toContain("script-src 'self'");
  expect(ui.headers.get("content-security-policy")).not.toContain("sandbox");
  expect((await fetch(`${h.url}/docs`)).headers.get("content-security-policy") ?? "").not.toContain("sandbox");
});

test("a dashboard session opens no proxied route but the one list the page reads", async () => {
  const login = await fetch(`${h.url}/ui/login`, {
    method: "POST",
    body: new URLSearchParams({ key: KEY }),
    headers: { origin: h.url, "sec-fetch-site": "same-origin" },
    redirect: "manual",
  });
  const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
  const own = { cookie, "sec-fetch-site": "same-origin" };
  for (const path of ["/api/anything", "/v1/models", "/machines/default/api/anything", "/api/tags"]) {
    const res = await fetch(h.url + path, { headers: own });
    expect([path, res.status]).toEqual([path, 403]);
    expect(((await res.json()) as { detail: string }).detail).toContain("dashboard session");
  }
  const post = await fetch(`${h.url}/ollama/chat`, { method: "POST", body: chat, headers: { ...own, origin: h.url } });
  expect(post.status).toBe(403);
  expect((await fetch(`${h.url}/machines/default/api/tags`, { headers: own })).status).toBe(200);
  expect((await fetch(`${h.url}/machines`, { headers: own })).status).toBe(200);
});

describe.skipIf(chromiumMissing !== null)(`in Chromium${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ""}`, () => {
  const chromium = chromiumPerTest();

  test("an admin logged in to the dashboard opens a link to the hostile answer: its script never runs", async () => {
    const context = await chromium.newContext();
    context.setDefaultTimeout(10_000);
    try {
      const page = await context.newPage();
      await page.goto(`${h.url}/ui`);
      await page.locator("#key").fill(KEY);
      await Promise.all([page.waitForURL(`${h.url}/ui`), page.locator('#login button[type="submit"]').click()]);
      expect((await context.cookies()).map((c) => c.name)).toEqual(["og_session"]);
      const blocked: string[] = [];
      page.on("console", (m) => blocked.push(m.text()));
      // The link anyone could send: the key in it reaches the machine, the page holds the admin's session.
      await page.goto(`${h.url}/k/${KEY}/machines/default/api/page`, { waitUntil: "load" });
      // The page is there (its title is the document's own), and its script did not run.
      expect(await page.title()).toBe("hostile"); // not "script ran"
      expect(blocked.join("\n")).toContain("sandboxed");
      const machine = (await (await h.api("/machines/default")).json()) as { permanent_on: boolean };
      expect(machine.permanent_on).toBe(false);
    } finally {
      await context.close();
    }
  });
});
