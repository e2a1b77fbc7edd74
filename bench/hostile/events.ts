// Scenario 10: readers of GET /events that never read, while a `user` key takes and releases leases as
// fast as it can (each cycle two events for every reader). Each reader's queue must stay bounded: the
// gateway drops a reader that falls behind and closes its connection.
import { connect, type Socket } from "node:net";
import { statusKB } from "../lib/proc.ts";
import { call } from "./gate.ts";
import { Tally } from "./measure.ts";
import { heldByServer } from "./raw.ts";
import type { Outcome } from "./scenario.ts";
import type { Ctx, Settings } from "./settings.ts";

const READERS = 20;
const CHURN_S = 30;
const CHURN_CLIENTS = 6;
/** The longest holder name the gateway takes: each event as large as a client can make it. */
const HOLDER = "events-bench-".padEnd(100, "x");

/** A connection that opens /events, waits for the stream's first bytes, then reads nothing more; null if it never began. */
async function stalledReader(ctx: Ctx, key: string): Promise<Socket | null> {
  const sock = connect({ host: "127.0.0.1", port: ctx.port });
  sock.on("error", () => {});
  const began = await new Promise<boolean>((resolve) => {
    let head = "";
    const timer = setTimeout(() => resolve(false), 10_000);
    sock.once("connect", () => sock.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${key}\r\n\r\n`));
    sock.on("data", (d: Buffer) => {
      head += d.toString("latin1", 0, 512);
      if (head.includes(": connected")) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    sock.once("close", () => resolve(false));
  });
  sock.removeAllListeners("data");
  sock.pause(); // from here on nothing is read from this socket
  return began ? sock : (sock.destroy(), null);
}

/** Sums a metric's series from /metrics (admin key); null if unreadable. */
async function metric(ctx: Ctx, name: string): Promise<number | null> {
  const a = await call(ctx, "GET", "/metrics");
  if (a.status !== 200) return null;
  const lines = a.text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

export async function stalledEventReaders(ctx: Ctx, _st: Settings, signal: AbortSignal): Promise<Outcome> {
  const tally = new Tally();
  // permanent_on: releasing the last lease must not shut the machine down in every cycle.
  tally.add((await call(ctx, "POST", "/permanent_on_enable")).label);
  const droppedBefore = (await metric(ctx, "ollama_gate_event_subscribers_dropped_total")) ?? 0;
  const readers = (await Promise.all(Array.from({ length: READERS }, (_, i) => stalledReader(ctx, i % 2 ? ctx.key : ctx.userKey)))).filter(
    (s): s is Socket => s !== null,
  );
  const ports = new Set(readers.map((s) => s.localPort).filter((p): p is number => typeof p === "number"));
  const user = { "X-API-Key": ctx.userKey };
  const t0 = Date.now();
  let cycles = 0;
  const churn = async () => {
    while (Date.now() - t0 < CHURN_S * 1000 && !signal.aborted) {
      const taken = await call(ctx, "POST", `/arrancar?holder=${HOLDER}`, { headers: user });
      tally.add(taken.label);
      let id: string | undefined;
      try {
        id = taken.status === 200 ? JSON.parse(taken.text).lease_id : undefined;
      } catch {}
      if (id) tally.add((await call(ctx, "POST", `/apagar?lease_id=${encodeURIComponent(id)}`, { headers: user })).label);
      cycles++;
    }
  };
  // Every few seconds: how many readers the gateway still streams to, and its RSS.
  const samples: string[] = [];
  const sampler = setInterval(async () => {
    const held = heldByServer(ctx.port, ports).length;
    const rss = ((statusKB(ctx.pid, "VmRSS") ?? 0) / 1024).toFixed(0);
    const dropped = ((await metric(ctx, "ollama_gate_event_subscribers_dropped_total")) ?? 0) - droppedBefore;
    samples.push(`${Math.round((Date.now() - t0) / 1000)} s: ${dropped} dropped, ${held} connections held, RSS ${rss} MB`);
  }, 5000);
  await Promise.all(Array.from({ length: CHURN_CLIENTS }, churn));
  clearInterval(sampler);
  // A dropped reader's connection is closed a few seconds later (a grace period for its last message, then an idle second).
  const waitedFrom = Date.now();
  while (heldByServer(ctx.port, ports).length > 0 && Date.now() - waitedFrom < 10_000 && !signal.aborted) await Bun.sleep(250);
  const held = heldByServer(ctx.port, ports).length;
  const dropped = ((await metric(ctx, "ollama_gate_event_subscribers_dropped_total")) ?? 0) - droppedBefore;
  const open = await metric(ctx, "ollama_gate_event_subscribers");
  for (const s of readers) s.destroy();
  tally.add((await call(ctx, "POST", "/permanent_on_disable")).label);
  return {
    requests: tally.total,
    statuses: tally,
    notes: [
      `${readers.length} of ${READERS} readers opened /events (half with the user key, half with the admin's: one key may hold 16) and never read; the user key took and released ${cycles} leases (holder names of 100 characters) on ${CHURN_CLIENTS} clients for ${CHURN_S} s`,
      `readers dropped by the gateway: ${dropped}; streams still open at the end: ${open ?? "?"}; connections it still held ${((Date.now() - waitedFrom) / 1000).toFixed(1)} s after the churn: ${held} of ${ports.size}`,
    ],
    details: { "stalled /events readers, every 5 s": samples },
    figures: { eventReadersDropped: dropped, eventStreamsOpenAtEnd: open, eventReadersHeld: held, leaseCycles: cycles },
  };
}
