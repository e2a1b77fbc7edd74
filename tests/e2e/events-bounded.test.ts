// GET /events under readers that stop reading: each stream's queue is bounded, a reader that falls behind
// is dropped (its connection closed, the drop counted), and the number of streams is bounded too, per key and in all.
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { heldByServer } from "../../bench/hostile/raw.ts";
import { EventType } from "../../src/core/telemetry/event-types.ts";
import { type Harness, KEY, startHarness, tempDir } from "../helpers.ts";

let h: Harness;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await h?.close();
});

/** A raw connection that opens /events, waits for the stream's first bytes, then reads nothing more. */
async function stalledReader(url: string): Promise<{ sock: Socket; port: number; ended: Promise<string>; text: () => string }> {
  const { hostname, port } = new URL(url);
  const sock = connect({ host: hostname, port: Number(port) });
  sockets.push(sock);
  let got = "";
  const ended = new Promise<string>((resolve) => {
    sock.on("close", () => resolve(got));
    sock.on("error", () => {});
  });
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", () => sock.write(`GET /events HTTP/1.1\r\nHost: ${hostname}\r\nX-API-Key: ${KEY}\r\n\r\n`));
    sock.on("data", (d: Buffer) => {
      got = (got + d.toString("latin1")).slice(-64 * 1024); // the stream's first bytes, then its last
      if (got.includes(": connected")) resolve();
    });
    sock.once("close", () => reject(new Error(`closed before the stream began: ${got.slice(0, 200)}`)));
  });
  sock.pause(); // from here on, nothing is read: the kernel's buffers fill, then the gateway's queue
  return { sock, port: sock.localPort!, ended, text: () => got };
}

async function metric(name: string): Promise<number> {
  const text = await (await h.api("/metrics")).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

/** Polls `check` until it holds or the deadline passes (for what no event announces: kernel socket states). */
async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await Bun.sleep(50);
  }
  return check();
}

test("readers that stop reading are dropped and their connections closed, while a reader that reads keeps every event", async () => {
  h = await startHarness({ on: true });
  // One reader that reads all along: it must get every event and never be dropped.
  const res = await h.api("/events");
  const reader = res.body!.getReader();
  let seen = 0;
  let text = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      text += decoder.decode(r.value, { stream: true });
      let cut: number;
      while ((cut = text.indexOf("\n\n")) >= 0) {
        if (text.startsWith("event: lease_taken\n")) seen++;
        text = text.slice(cut + 2);
      }
    }
  })();
  const stalled = await Promise.all([1, 2, 3].map(() => stalledReader(h.url)));
  const ports = new Set(stalled.map((s) => s.port));
  const before = await metric("ollama_gate_event_subscribers_dropped_total");

  // Events as lease churn makes them, with a holder name long enough that the kernel's buffers fill soon.
  const holder = "h".repeat(2000);
  let emitted = 0;
  let deepest = 0;
  while (emitted < 20_000 && (await metric("ollama_gate_event_subscribers_dropped_total")) < before + 3) {
    for (let i = 0; i < 100; i++, emitted++) h.deps.events.emit(EventType.leaseTaken, "default", { lease_id: `l${emitted}`, holder });
    deepest = Math.max(deepest, h.deps.eventStreams?.deepestQueue ?? 0);
    await Bun.sleep(1); // the reading client and the sockets get their turn
  }
  expect(await metric("ollama_gate_event_subscribers_dropped_total")).toBe(before + 3);
  expect(deepest).toBeLessThanOrEqual(256);
  // Only the reader that reads is still subscribed; the others' connections are closed while their
  // clients still hold their ends open and read nothing.
  expect(h.deps.eventStreams.size).toBe(1);
  expect(await metric("ollama_gate_event_subscribers")).toBe(1);
  expect(await until(() => heldByServer(Number(new URL(h.url).port), ports).length === 0)).toBe(true);
  // Read now, each stalled client finds its stream over.
  for (const s of stalled) s.sock.resume();
  await Promise.all(stalled.map((s) => s.ended));

  // The reading client got every event, as they were emitted.
  await until(() => seen >= emitted, 20_000);
  expect(seen).toBe(emitted);
  await reader.cancel();
  await reading;
  expect(await until(() => h.deps.eventStreams.size === 0)).toBe(true);
}, 30_000); // a few seconds alone; a loaded full run passed the default 5 s (the preload's default did not apply)

test("a reader that fell behind but reads again within the grace period gets an error event saying so, then the end", async () => {
  h = await startHarness({ on: true });
  const slow = await stalledReader(h.url);
  const holder = "h".repeat(2000);
  for (let n = 0; n < 20_000 && (await metric("ollama_gate_event_subscribers_dropped_total")) === 0; n += 100) {
    for (let i = 0; i < 100; i++) h.deps.events.emit(EventType.leaseTaken, "default", { lease_id: `l${n + i}`, holder });
    await Bun.sleep(1);
  }
  expect(await metric("ollama_gate_event_subscribers_dropped_total")).toBe(1);
  slow.sock.resume();
  // The response ends properly (the chunked body's last chunk, not a cut connection), then the connection is closed.
  expect(await until(() => slow.text().endsWith("\r\n0\r\n\r\n"))).toBe(true);
  const tail = await slow.ended;
  const last = tail.slice(tail.lastIndexOf("event: "));
  expect(last).toStartWith("event: error\ndata: ");
  expect(JSON.parse(last.split("\n")[1]!.slice(6)).detail).toMatch(/fell behind.*reconnect/);
}, 30_000);

test("at most 16 streams per key and 64 in all: one more is refused with 503 and a reason, and a place freed is taken again", async () => {
  // Four user keys and the harness's admin key.
  const { dir, cleanup } = tempDir();
  const file = join(dir, "keys.yaml");
  const users = [1, 2, 3, 4].map((i) => `events-user-${i}-0123456789`);
  writeFileSync(file, `keys:\n${users.map((k, i) => `  - { name: user-${i + 1}, key: ${k}, role: user }\n`).join("")}`);
  h = await startHarness({ on: true, env: { KEYS_FILE: file } });
  const close = h.close;
  h.close = async () => {
    await close();
    cleanup();
  };
  const as = (key: string) => fetch(`${h.url}/events`, { headers: { "x-api-key": key } });
  const detail = async (res: Response) => ((await res.json()) as { detail: string }).detail;

  const first = await Promise.all(Array.from({ length: 16 }, () => as(users[0]!)));
  expect(first.map((r) => r.status)).toEqual(Array(16).fill(200));
  const seventeenth = await as(users[0]!);
  expect(seventeenth.status).toBe(503);
  expect(await detail(seventeenth)).toBe("This key has 16 event streams open already; close one first");
  const rest = await Promise.all(users.slice(1).flatMap((k) => Array.from({ length: 16 }, () => as(k))));
  expect(rest.map((r) => r.status)).toEqual(Array(48).fill(200));
  const refused = await as(KEY);
  expect(refused.status).toBe(503);
  expect(refused.headers.get("retry-after")).toBe("30");
  expect(await detail(refused)).toBe("Too many event streams are open (64); try again later");
  // An open stream is never pushed out for a newcomer.
  expect(h.deps.eventStreams.size).toBe(64);
  await first[0]!.body!.cancel();
  expect(await until(() => h.deps.eventStreams.size === 63)).toBe(true);
  const again = await as(KEY);
  expect(again.status).toBe(200);
  for (const r of [...first.slice(1), ...rest, again]) await r.body!.cancel();
  expect(await until(() => h.deps.eventStreams.size === 0)).toBe(true);
});
