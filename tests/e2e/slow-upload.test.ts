// Slow uploads (issue 21, item 8): one key's slow bodies hold at most its share of the body pools, so
// another key's large body still fits; and a body that comes slower than the floor is cut with 408,
// its upstream connection closed so Ollama is left nothing half-sent.
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import type { DepsOptions } from "../../src/deps.ts";
import { type Harness, KEY, startHarness, tempDir } from "../helpers.ts";

const CHAT_KEY = "chat-key-0123456789";
const KEYS = `keys:\n  - { name: chat, key: ${CHAT_KEY}, role: inference }\n`;
const MB = 1048576;

let h: Harness;
let cleanup = () => {};
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await h?.close();
  cleanup();
});

async function start(deps: DepsOptions = {}) {
  const t = tempDir();
  cleanup = t.cleanup;
  const file = join(t.dir, "keys.yaml");
  writeFileSync(file, KEYS);
  h = await startHarness({ on: true, env: { KEYS_FILE: file }, deps });
}

/** A raw-socket request whose body comes a few bytes at a time, every `everyMs`, until the gateway answers or closes. */
async function slowUpload(path: string, opts: { everyMs: number; key?: string; length?: number }) {
  const url = new URL(h.url);
  let text = "";
  const answered = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: url.hostname,
    port: Number(url.port),
    socket: {
      data: (_s, d) => {
        text += Buffer.from(d).toString();
        if (text.includes("\r\n\r\n")) answered.resolve();
      },
      close: () => (answered.resolve(), closed.resolve()),
      error: () => (answered.resolve(), closed.resolve()),
    },
  });
  sockets.push(socket);
  const framing = opts.length === undefined ? "transfer-encoding: chunked" : `content-length: ${opts.length}`;
  socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\nx-api-key: ${opts.key ?? CHAT_KEY}\r\ncontent-type: application/json\r\n${framing}\r\n\r\n`);
  let done = false;
  answered.promise.then(() => (done = true));
  void (async () => {
    socket.write(opts.length === undefined ? "1\r\n{\r\n" : "{");
    while (!done) {
      await Bun.sleep(opts.everyMs);
      if (!done) socket.write(opts.length === undefined ? "1\r\n \r\n" : " ");
    }
  })();
  return {
    answered: answered.promise,
    closed: closed.promise,
    status: () => Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0),
    detail: () => JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4) || "{}").detail as string | undefined,
  };
}

/** Polls `check` until it holds; fails the test (instead of hanging it) after `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000) {
  for (const end = Date.now() + ms; !check(); await Bun.sleep(20)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

const chatOf = (bytes: number) => JSON.stringify({ model: "llama3.2:3b", messages: [{ role: "user", content: "x".repeat(bytes) }], stream: false });
const adminChat = (bytes: number) =>
  fetch(h.url + "/api/chat", { method: "POST", headers: { "x-api-key": KEY, "content-type": "application/json" }, body: chatOf(bytes) });

test("four slow chunked uploads of one key leave room for another key's 400 KB and 1.5 MB chats", async () => {
  await start();
  const slow = await Promise.all(Array.from({ length: 4 }, () => slowUpload("/api/chat", { everyMs: 2000 })));
  // Each upload streams through and holds its read-ahead in the pool for large bodies (counted twice), or was refused.
  const perUpload = 2 * (MB - 65536);
  const large = h.deps.bodies.passthrough.large;
  await until(() => Math.round(large.inUse / perUpload) + slow.filter((s) => s.status() !== 0).length === 4, "the four uploads to settle");
  for (const bytes of [400 * 1024, 1.5 * MB, 400 * 1024, 1.5 * MB]) {
    const res = await adminChat(bytes);
    expect({ bytes, status: res.status }).toEqual({ bytes, status: 200 });
    await res.arrayBuffer();
  }
  // The uploads past the key's share were refused at once; the others are still under way, still held.
  const refused = slow.filter((s) => s.status() !== 0);
  expect(refused.map((s) => s.status())).toEqual([503, 503]);
  expect(large.inUse).toBe(2 * perUpload);
});

const FLOOR = { bytesPerSecond: 1024, graceMs: 600, windowMs: 600 };

test("an upload streamed through that comes slower than the floor is cut with 408, and the upstream connection with it", async () => {
  await start({ bodyRateFloor: FLOOR });
  const upstream = (h.sim as unknown as { http: { pendingRequests: number } }).http;
  const slow = await slowUpload("/api/chat", { everyMs: 100 });
  // The gateway sent it on at once (one machine: nothing to read for the model), chunked, to Ollama.
  await until(() => upstream.pendingRequests === 1, "the upload to reach Ollama");
  await Promise.race([slow.answered, Bun.sleep(8000)]);
  expect(slow.status()).toBe(408);
  expect(slow.detail()).toContain("slower than 1 KB/s");
  await Promise.race([slow.closed, Bun.sleep(3000)]);
  expect(slow.status()).toBe(408); // and the connection closed: the rest of the body is not waited for
  // Ollama's side of the upload was closed too: its request ended unread, nothing of it was taken as a chat.
  await until(() => upstream.pendingRequests === 0, "Ollama's request to end", 3000);
  expect(h.sim.ollama.requests.filter((r) => r.path === "/api/chat")).toHaveLength(0);
  expect([h.deps.bodies.passthrough.small.inUse, h.deps.bodies.passthrough.large.inUse]).toEqual([0, 0]);
  // A body at an honest pace goes through as before.
  const res = await adminChat(100);
  expect(res.status).toBe(200);
});

test("so is a body read whole: chunked on the /ollama/* routes, and one of known length on Ollama's API", async () => {
  await start({ bodyRateFloor: FLOOR });
  const chunked = await slowUpload("/ollama/chat", { everyMs: 100, key: KEY });
  // 100 KB announced: its length alone would allow it minutes at the floor's pace, but its progress is watched.
  const known = await slowUpload("/api/chat", { everyMs: 100, length: 100_000 });
  await Promise.race([Promise.all([chunked.answered, known.answered]), Bun.sleep(8000)]);
  expect([chunked.status(), known.status()]).toEqual([408, 408]);
  expect(known.detail()).toContain("slower than");
  expect(h.sim.ollama.requests.filter((r) => r.path === "/api/chat")).toHaveLength(0);
  expect([h.deps.bodies.legacy.small.inUse, h.deps.bodies.legacy.large.inUse]).toEqual([0, 0]);
});

test("a small body of known length, read whole by the server, is cut with 408 too once its deadline passes", async () => {
  await start({ bodyRateFloor: FLOOR });
  // 300 bytes: within the floor's window (614 bytes at 1 KB/s over 0.6 s), so one deadline at 0.6 s + 0.3 s watches it.
  const small = await slowUpload("/api/chat", { everyMs: 100, length: 300 });
  await Promise.race([small.answered, Bun.sleep(8000)]);
  expect(small.status()).toBe(408);
  expect(small.detail()).toContain("slower than 1 KB/s");
  // And the connection closed (Connection: close): the rest of the body is not waited for.
  expect(await Promise.race([small.closed.then(() => true), Bun.sleep(3000).then(() => false)])).toBe(true);
  expect(h.sim.ollama.requests.filter((r) => r.path === "/api/chat")).toHaveLength(0);
  await until(() => h.deps.bodies.passthrough.small.inUse === 0, "the body's memory to be given back", 3000);
  expect((await adminChat(100)).status).toBe(200);
});
