// Who reads which events: a stream ends as soon as a reload of KEYS_FILE revokes or demotes its key
// (a dashboard session's too), and a key limited to some machines sees only their events.
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FleetHarness, type Harness, json, KEY, startFleetHarness, startHarness, tempDir } from "../helpers.ts";

const USER = "user-key-0123456789";
const OTHER = "other-key-0123456789";
const SMALL = "small-key-0123456789";
const KEYS = `keys:
  - { name: family, key: ${USER}, role: user }
  - { name: other, key: ${OTHER}, role: user }
`;

let h: Harness | FleetHarness | undefined;
const cleanups: (() => void)[] = [];
const streams: AbortController[] = [];
afterEach(async () => {
  for (const s of streams.splice(0)) s.abort();
  await h?.close();
  h = undefined;
  for (const c of cleanups.splice(0)) c();
});

function keysFile(text: string): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const file = join(dir, "keys.yaml");
  writeFileSync(file, text);
  return file;
}

interface Sse {
  event: string;
  data: any;
}

/**
 * Reads an event stream: `next(match)` resolves with the first event that matches; `ended` once the body
 * is over, with every event read (`cut` says whether it ended by a broken connection instead of its proper end).
 */
function follow(res: Response) {
  expect(res.status).toBe(200);
  const seen: Sse[] = [];
  const state = { cut: false };
  const waiting: { match: (e: Sse) => boolean; resolve: (e: Sse) => void }[] = [];
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body!) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const lines = buffer.slice(0, cut).split("\n");
        buffer = buffer.slice(cut + 2);
        const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
        const data = field("data");
        if (data === undefined) continue;
        const e = { event: field("event") ?? "message", data: JSON.parse(data) };
        seen.push(e);
        for (const w of waiting.filter((w) => w.match(e))) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(e);
        }
      }
    }
    return seen;
  })().catch(() => {
    state.cut = true;
    return seen;
  });
  const next = (match: (e: Sse) => boolean) =>
    new Promise<Sse>((resolve) => {
      const already = seen.find(match);
      if (already) resolve(already);
      else waiting.push({ match, resolve });
    });
  return { seen, ended, next, state };
}

const as = (key: string, path: string, init: RequestInit = {}) => fetch(h!.url + path, { ...init, headers: { "x-api-key": key, ...init.headers } });

/** Opens a stream as `key`; once its headers came, the gateway listens for it (the first bytes say so). */
async function open(key: string | { cookie: string }) {
  const headers: Record<string, string> = typeof key === "string" ? { "x-api-key": key } : { cookie: key.cookie, "sec-fetch-site": "same-origin" };
  const abort = new AbortController();
  streams.push(abort);
  const stream = follow(await fetch(`${h!.url}/events`, { headers, signal: abort.signal }));
  return stream;
}

/** The events a stream got, once it ended; a stream still open after a few seconds fails the test. */
async function endOf(stream: ReturnType<typeof follow>): Promise<Sse[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("the stream did not end within 5 s")), 5000)));
  try {
    return await Promise.race([stream.ended, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rewrites KEYS_FILE and reloads it, as SIGHUP does. */
function reload(text: string) {
  writeFileSync(h!.deps.config.keysFile!, text);
  expect(h!.deps.keys.reload({})).toBe(true);
}

test("a reload that removes a key ends its open stream at once with an error event; other keys' streams go on", async () => {
  h = await startHarness({ on: true, env: { KEYS_FILE: keysFile(KEYS) } });
  const revoked = await open(USER);
  const kept = await open(OTHER);
  reload(KEYS.replace(/ {2}- \{ name: family.*\n/, ""));
  const seen = await endOf(revoked);
  expect(revoked.state.cut).toBe(false);
  expect(seen.at(-1)).toEqual({ event: "error", data: { detail: "the key of this stream was revoked" } });
  expect((await as(USER, "/events")).status).toBe(401);
  // The other stream still hears what happens.
  await as(OTHER, "/arrancar", { method: "POST" });
  expect((await kept.next((e) => e.event === "lease_taken")).data.data.key).toBe("other");
  expect(kept.seen.some((e) => e.event === "error")).toBe(false);
  expect(h.deps.eventStreams.size).toBe(1);
  expect(await (await fetch(`${h.url}/metrics`, { headers: { "x-api-key": KEY } })).text()).toContain(
    'ollama_gate_event_subscribers_dropped_total{reason="revoked"} 1',
  );
});

test("a reload that demotes a key to inference ends its stream, and its dashboard session's stream too", async () => {
  h = await startHarness({ on: true, env: { KEYS_FILE: keysFile(KEYS) } });
  const login = await fetch(`${h.url}/ui/login`, {
    method: "POST",
    body: new URLSearchParams({ key: USER }),
    headers: { origin: h.url, "sec-fetch-site": "same-origin" },
    redirect: "manual",
  });
  expect(login.status).toBe(303);
  const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
  const byHeader = await open(USER);
  const bySession = await open({ cookie });
  reload(KEYS.replace("name: family, key: " + USER + ", role: user", "name: family, key: " + USER + ", role: inference"));
  for (const stream of [byHeader, bySession]) {
    const last = (await endOf(stream)).at(-1)!;
    expect(stream.state.cut).toBe(false);
    expect(last.event).toBe("error");
    expect(last.data.detail).toBe("the key family may no longer read events (its role is now inference)");
  }
  expect(h.deps.eventStreams.size).toBe(0);
});

test("a reload that changes a key's machines ends its stream (its filter would be out of date); an unchanged key's goes on", async () => {
  const keys = (machines: string) =>
    `keys:\n  - { name: scoped, key: ${SMALL}, role: user, machines: [${machines}] }\n  - { name: other, key: ${OTHER}, role: user }\n`;
  h = await startFleetHarness({ on: ["big", "small"], env: { KEYS_FILE: keysFile(keys("small")) } });
  const scoped = await open(SMALL);
  const other = await open(OTHER);
  reload(keys("small, big"));
  expect((await endOf(scoped)).at(-1)!.data.detail).toBe("the machines the key scoped may use changed: reconnect");
  expect(other.seen).toEqual([]);
  expect(h.deps.eventStreams.size).toBe(1);
});

test("a key limited to the small machine sees only its events, live and in the history, never the big one's or who used it", async () => {
  const keys = `keys:\n  - { name: scoped, key: ${SMALL}, role: user, machines: [small] }\n  - { name: secret-team, key: ${OTHER}, role: user }\n`;
  h = await startFleetHarness({ on: ["big", "small"], env: { KEYS_FILE: keysFile(keys) } });
  const scoped = await open(SMALL);
  const all = await open(KEY);
  // Another key takes a lease on each machine, the big one first.
  const big = await json(
    as(OTHER, "/machines/big/wake", { method: "POST", body: '{"holder":"big-only-holder"}', headers: { "content-type": "application/json" } }),
  );
  expect(big.lease_id).toBeString();
  await as(OTHER, "/machines/small/wake", { method: "POST" });
  await all.next((e) => e.event === "lease_taken" && e.data.machine === "small");
  const onSmall = await scoped.next((e) => e.event === "lease_taken");
  expect(onSmall.data.machine).toBe("small");
  // The unrestricted key saw both: the big machine's lease came first, and the scoped stream skipped it.
  expect(all.seen.find((e) => e.event === "lease_taken")!.data.machine).toBe("big");
  expect(scoped.seen.every((e) => e.data.machine === "small")).toBe(true);
  expect(JSON.stringify(all.seen)).toContain("big-only-holder");
  expect(JSON.stringify(scoped.seen)).not.toContain("big-only-holder");
  expect(JSON.stringify(scoped.seen)).not.toContain(big.lease_id);

  const history = (await json(as(SMALL, "/events/history"))).events as { machine: string }[];
  expect(history.length).toBeGreaterThan(0);
  expect(history.every((e) => e.machine === "small")).toBe(true);
  const full = (await json(as(KEY, "/events/history"))).events as { machine: string }[];
  expect(full.some((e) => e.machine === "big")).toBe(true);
  expect(JSON.stringify(history)).not.toContain("big-only-holder");
});
