// The dashboard over HTTP: login and its cookie, the throttle, the origin check on changes, logout,
// sessions across a restart, and the page's weight. The browser side is tests/ui-browser.test.ts.
import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SessionStore } from "../../src/core/access/sessions.ts";
import { LOGIN_ATTEMPTS_PER_MIN } from "../../src/http/throttle.ts";
import { type Harness, json, KEY, manualClock, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

const login = (key: string, headers: Record<string, string> = {}) =>
  fetch(h.url + "/ui/login", { method: "POST", body: new URLSearchParams({ key }), redirect: "manual", headers });
const cookieOf = (res: Response) => res.headers.get("set-cookie")?.split(";")[0] ?? "";
const wake = (headers: Record<string, string>) =>
  fetch(h.url + "/machines/default/wake", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: '{"holder":"dashboard"}',
  });

test("a right key gives a session cookie that is not the key: HttpOnly, SameSite=Strict, Path=/, 30 days", async () => {
  h = await startHarness({ on: true });
  const res = await login(KEY);
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe("/ui");
  const setCookie = res.headers.get("set-cookie")!;
  expect(setCookie).toMatch(/^og_session=[\w-]{40,};/);
  expect(setCookie).toContain("HttpOnly");
  expect(setCookie).toContain("SameSite=Strict");
  expect(setCookie).toContain("Path=/");
  expect(setCookie).toContain("Max-Age=2592000");
  expect(setCookie).not.toContain("Secure"); // plain HTTP on the LAN: a Secure cookie would never come back
  expect(setCookie).not.toContain(KEY);
  // The cookie alone opens the API's read routes and the dashboard.
  expect((await fetch(h.url + "/machines", { headers: { cookie: cookieOf(res) } })).status).toBe(200);
  const page = await (await fetch(h.url + "/ui", { headers: { cookie: cookieOf(res) } })).text();
  expect(page).toContain('id="machines"');
  expect(page).not.toContain(KEY);
});

test("behind an HTTPS proxy (X-Forwarded-Proto) the cookie is Secure", async () => {
  h = await startHarness({ on: true });
  expect((await login(KEY, { "x-forwarded-proto": "https" })).headers.get("set-cookie")).toContain("Secure");
});

test("a wrong key shows the form again with a message, and no session", async () => {
  h = await startHarness({ on: true });
  const res = await login("not-the-key");
  expect(res.status).toBe(401);
  expect(res.headers.get("set-cookie")).toBeNull();
  expect(await res.text()).toContain("That key is not valid.");
  expect(h.deps.ui.sessions.size).toBe(0);
});

test("ten wrong keys in a minute: then 429 with Retry-After, even for the right key, until the minute is over", async () => {
  const clock = manualClock();
  h = await startHarness({ on: true, deps: { now: clock.now } });
  for (let i = 0; i < LOGIN_ATTEMPTS_PER_MIN; i++) expect((await login(`wrong-${i}`)).status).toBe(401);
  const refused = await login(KEY);
  expect(refused.status).toBe(429);
  expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(refused.headers.get("set-cookie")).toBeNull();
  clock.advance(61_000);
  expect((await login(KEY)).status).toBe(303);
});

test("a change riding on the cookie needs the gateway's own Origin: else 403 and nothing happens", async () => {
  h = await startHarness({ on: true });
  const cookie = cookieOf(await login(KEY));
  // Another page (a different host, on loopback: no test names an outside address, even in a header).
  const foreign: Record<string, string>[] = [{ cookie }, { cookie, origin: "http://127.0.0.9:9" }, { cookie, referer: "http://127.0.0.9:9/x" }];
  for (const headers of foreign) {
    const res = await wake(headers);
    expect(res.status).toBe(403);
    expect((await json(res)).detail).toContain("another page");
  }
  expect(h.deps.events.history().filter((e) => e.type === "lease_taken")).toHaveLength(0);
  expect((await wake({ cookie, origin: h.url })).status).toBe(200);
  expect((await wake({ cookie, referer: `${h.url}/ui` })).status).toBe(200);
  // An API key needs no Origin: scripts and home automations send none.
  expect((await wake({ "x-api-key": KEY })).status).toBe(200);
});

test("with the cookie, even a read counts only from the gateway's own page (Sec-Fetch-Site), or a proxied host", async () => {
  h = await startHarness({ on: true });
  const cookie = cookieOf(await login(KEY));
  const get = (headers: Record<string, string>) => fetch(h.url + "/leases", { headers: { cookie, ...headers } });
  expect((await get({ "sec-fetch-site": "same-site" })).status).toBe(403); // another port or subdomain of this host
  expect((await get({ "sec-fetch-site": "cross-site" })).status).toBe(403);
  expect((await get({ "sec-fetch-site": "same-origin" })).status).toBe(200);
  expect((await get({ "sec-fetch-site": "none" })).status).toBe(200); // typed in the address bar
  expect((await wake({ cookie, "sec-fetch-site": "none" })).status).toBe(403); // no page of ours sends a change so
  // Behind a proxy that rewrites Host, the host the browser used is in X-Forwarded-Host.
  expect((await wake({ cookie, origin: "http://127.0.0.8:8000", "x-forwarded-host": "127.0.0.8:8000" })).status).toBe(200);
});

test("a forged cookie is a 401, on the API and the event stream; /ui shows the login form", async () => {
  h = await startHarness({ on: true });
  const cookie = "og_session=forged-token-that-was-never-issued";
  expect((await fetch(h.url + "/machines", { headers: { cookie } })).status).toBe(401);
  expect((await fetch(h.url + "/events", { headers: { cookie } })).status).toBe(401);
  expect(await (await fetch(h.url + "/ui", { headers: { cookie } })).text()).toContain('id="login"');
});

test("logout ends the session (only from the gateway's own page) and clears the cookie", async () => {
  h = await startHarness({ on: true });
  const cookie = cookieOf(await login(KEY));
  const elsewhere = await fetch(h.url + "/ui/logout", { method: "POST", headers: { cookie, origin: "http://127.0.0.9:9" }, redirect: "manual" });
  expect(elsewhere.status).toBe(403);
  expect((await fetch(h.url + "/machines", { headers: { cookie } })).status).toBe(200);
  const out = await fetch(h.url + "/ui/logout", { method: "POST", headers: { cookie, origin: h.url }, redirect: "manual" });
  expect(out.status).toBe(303);
  expect(out.headers.get("set-cookie")).toMatch(/og_session=;.*Max-Age=0/);
  expect((await fetch(h.url + "/machines", { headers: { cookie } })).status).toBe(401);
});

test("sessions survive a restart, and their file holds no usable token", async () => {
  h = await startHarness({ on: true });
  const token = cookieOf(await login(KEY)).split("=")[1]!;
  const file = join(h.dir, "sessions.json");
  await h.deps.ui.sessions.flushed(); // the login starts the write and does not wait for it
  const text = readFileSync(file, "utf8");
  expect(text).not.toContain(token);
  expect(text).not.toContain(KEY);
  // A new store over the same file: what a restarted gateway builds.
  const identity = h.deps.keys.ring.match(KEY)!.identity;
  const restarted = (identities: string[]) => new SessionStore({ file, keys: () => identities });
  expect(restarted([identity]).check(token)).toBe(identity);
  expect(restarted([identity]).check("x" + token)).toBeNull();
  // The key taken out of the configuration: its sessions are over.
  expect(restarted(["0".repeat(64)]).check(token)).toBeNull();
});

test("an asset name that is not a file (an Object property) is a 404, not a 500", async () => {
  h = await startHarness({ on: true });
  for (const name of ["constructor", "__proto__", "toString"]) {
    expect((await fetch(`${h.url}/ui/assets/${name}`)).status).toBe(404);
    expect((await fetch(`${h.url}/docs/assets/swagger-ui-dist/${name}`)).status).toBe(404);
  }
});

test("pages: CSP on /ui, a public favicon, browsers sent from / to /ui, API clients still get JSON", async () => {
  h = await startHarness({ on: true });
  const ui = await fetch(h.url + "/ui");
  expect(ui.headers.get("content-security-policy")).toStartWith("default-src 'self'");
  const icon = await fetch(h.url + "/favicon.ico");
  expect(icon.status).toBe(200);
  expect(icon.headers.get("content-type")).toBe("image/svg+xml");
  const browser = await fetch(h.url + "/", { headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" }, redirect: "manual" });
  expect(browser.status).toBe(302);
  expect(browser.headers.get("location")).toBe("/ui");
  expect(await json(fetch(h.url + "/"))).toMatchObject({ api: "ollama-gate", status: "running" });
});

test("the first load of the dashboard weighs at most 60 KB", async () => {
  h = await startHarness({ on: true });
  const cookie = cookieOf(await login(KEY));
  const paths = ["/ui", "/ui/assets/app.js", "/ui/assets/words.js", "/ui/assets/app.css", "/favicon.ico"];
  const sizes = await Promise.all(paths.map(async (p) => (await (await fetch(h.url + p, { headers: { cookie } })).arrayBuffer()).byteLength));
  expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(60 * 1024);
});
