// Key guessing (issue 21, item 12): every wrong key counts against the client's address, whichever the
// route and however the key came (X-API-Key, Bearer, /k/<key>/, the login form); past the limit the
// address's keys are refused with 429 — all but those that already worked from it, so one client left with a
// revoked key behind a shared address (Traefik) does not lock the others out.
import { afterEach, expect, test } from "bun:test";
import { LOGIN_ATTEMPTS_PER_MIN } from "../../src/http/throttle.ts";
import { type Harness, json, KEY, manualClock, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

/** One wrong key in each way a key can come, in turn. */
const WAYS: ((url: string, i: number) => Promise<Response>)[] = [
  (url, i) => fetch(url + "/machines", { headers: { "x-api-key": `wrong-${i}` } }),
  (url, i) => fetch(url + "/api/tags", { headers: { authorization: `Bearer wrong-${i}` } }),
  (url, i) => fetch(`${url}/k/wrong-${i}/api/tags`),
  (url, i) => fetch(url + "/ui/login", { method: "POST", body: new URLSearchParams({ key: `wrong-${i}` }), redirect: "manual" }),
];

test("wrong keys by every way count together: then 429 with Retry-After, even for a right key new to the address, until the minute is over", async () => {
  const clock = manualClock();
  h = await startHarness({ on: true, deps: { now: clock.now } });
  for (let i = 0; i < LOGIN_ATTEMPTS_PER_MIN; i++) expect((await WAYS[i % WAYS.length]!(h.url, i)).status).toBe(401);
  for (const refused of [
    await fetch(h.url + "/machines", { headers: { "x-api-key": KEY } }),
    await fetch(h.url + "/api/tags", { headers: { authorization: `Bearer ${KEY}` } }),
    await fetch(`${h.url}/k/${KEY}/api/tags`),
  ]) {
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = await json(refused);
    expect(body.detail).toContain("Too many wrong keys");
    expect(body.error).toBe(body.detail); // what Ollama's clients show
  }
  const form = await fetch(h.url + "/ui/login", { method: "POST", body: new URLSearchParams({ key: KEY }), redirect: "manual" });
  expect(form.status).toBe(429);
  clock.advance(61_000);
  expect((await fetch(h.url + "/machines", { headers: { "x-api-key": KEY } })).status).toBe(200);
});

test("past the limit, a key that already worked from the address goes on working, on every route and the login form", async () => {
  const OTHER = "other-admin-key-0123456789";
  const clock = manualClock();
  h = await startHarness({ on: true, env: { API_KEYS: `${KEY},${OTHER}` }, deps: { now: clock.now } });
  expect((await fetch(h.url + "/machines", { headers: { "x-api-key": KEY } })).status).toBe(200);
  for (let i = 0; i < LOGIN_ATTEMPTS_PER_MIN; i++) expect((await WAYS[i % WAYS.length]!(h.url, i)).status).toBe(401);
  expect((await fetch(h.url + "/machines", { headers: { "x-api-key": KEY } })).status).toBe(200);
  expect((await fetch(`${h.url}/k/${KEY}/api/tags`)).status).toBe(200);
  const form = await fetch(h.url + "/ui/login", { method: "POST", body: new URLSearchParams({ key: KEY }), redirect: "manual" });
  expect(form.status).toBe(303);
  // A key that never worked from here waits like a wrong one: the guesser cannot tell them apart.
  expect((await fetch(h.url + "/machines", { headers: { "x-api-key": OTHER } })).status).toBe(429);
  expect((await fetch(h.url + "/machines", { headers: { "x-api-key": "wrong-again" } })).status).toBe(429);
});

test("a session token that opens nothing is a session that ended, not a guess: it does not count", async () => {
  const clock = manualClock();
  h = await startHarness({ on: true, deps: { now: clock.now } });
  for (let i = 0; i < 3 * LOGIN_ATTEMPTS_PER_MIN; i++) {
    expect((await fetch(h.url + "/leases", { headers: { cookie: `og_session=forged-${i}` } })).status).toBe(401);
  }
  expect((await fetch(h.url + "/machines", { headers: { "x-api-key": KEY } })).status).toBe(200);
  expect(h.deps.ui.throttle.size).toBe(0);
});

test("a wrong key counts even when a valid session cookie rides along", async () => {
  const clock = manualClock();
  h = await startHarness({ on: true, deps: { now: clock.now } });
  const login = await fetch(h.url + "/ui/login", { method: "POST", body: new URLSearchParams({ key: KEY }), redirect: "manual" });
  const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
  for (let i = 0; i < LOGIN_ATTEMPTS_PER_MIN; i++) {
    expect((await fetch(h.url + "/machines", { headers: { cookie, "x-api-key": `wrong-${i}` } })).status).toBe(200);
  }
  // Past the limit the wrong key is refused; the session alone (no guess) still opens the dashboard's routes.
  expect((await fetch(h.url + "/machines", { headers: { cookie, "x-api-key": "wrong-again" } })).status).toBe(429);
  expect((await fetch(h.url + "/machines", { headers: { cookie } })).status).toBe(200);
});

test("requests that bring no key at all are 401 and guess nothing: they do not count", async () => {
  const clock = manualClock();
  h = await startHarness({ on: true, deps: { now: clock.now } });
  for (let i = 0; i < 3 * LOGIN_ATTEMPTS_PER_MIN; i++) expect((await fetch(h.url + "/machines")).status).toBe(401);
  expect((await fetch(h.url + "/machines", { headers: { "x-api-key": KEY } })).status).toBe(200);
  expect(h.deps.ui.throttle.size).toBe(0);
});
