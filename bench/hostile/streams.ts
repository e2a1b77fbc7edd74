// Scenarios 4 and 5: many streams read to the end, then many streams nobody reads.

import { statusKB } from "../lib/proc.ts";
import { leaseView } from "./gate.ts";
import { failureLabel, Tally } from "./measure.ts";
import { heldByServer, RawConn, tcpTable } from "./raw.ts";
import type { Outcome } from "./scenario.ts";
import type { Ctx, Settings } from "./settings.ts";

/** One POST /api/generate read to the end: its status, or "200-cut" when fewer lines came than asked for. */
async function oneStream(ctx: Ctx, body: string, expectLines: number): Promise<string> {
  try {
    const res = await fetch(ctx.url + "/api/generate", {
      method: "POST",
      headers: { "X-API-Key": ctx.key, "Content-Type": "application/json" },
      body,
      signal: AbortSignal.timeout(60_000),
    });
    let lines = 0;
    for await (const chunk of res.body ?? []) for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
    return res.status === 200 && lines !== expectLines ? "200-cut" : String(res.status);
  } catch (err) {
    return failureLabel(err);
  }
}

export async function concurrentStreams(ctx: Ctx, st: Settings): Promise<Outcome> {
  const body = JSON.stringify({ model: "llama3.2:3b", prompt: "x", options: { num_predict: st.streamTokens } });
  const tally = new Tally();
  const results = await Promise.all(Array.from({ length: st.streams }, () => oneStream(ctx, body, st.streamTokens + 1)));
  for (const r of results) tally.add(r);
  return { requests: tally.total, statuses: tally, notes: [`${st.streams} streams of ${st.streamTokens + 1} NDJSON lines, all at once`] };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mb = (bytes: number) => (bytes / (1 << 20)).toFixed(1);

/**
 * Raw sockets that send a streaming request for the model that never stops, then never read: the
 * kernel buffers fill, and a gateway that does not give up on a stalled reader holds the stream forever.
 * The gateway's own count (GET /leases in_flight) says how many it still streams; /proc/net/tcp says
 * how many connections it closed, which needs no reading on our side.
 */
export async function stalledReaders(ctx: Ctx, st: Settings, signal: AbortSignal): Promise<Outcome> {
  const body = JSON.stringify({ model: "endless", prompt: "x" });
  const req = `POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${ctx.key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const conns = Array.from({ length: st.stalled }, () => new RawConn(ctx.port, (st.stalledWaitS + 60) * 1000));
  const t0 = Date.now();
  await Promise.all(
    conns.map(async (c) => {
      await c.connected;
      await c.write(req);
      c.sock.pause(); // from here on nothing is read from this socket
    }),
  );
  const ports = new Set(conns.map((c) => c.sock.localPort).filter((p): p is number => typeof p === "number"));
  await Bun.sleep(1000);
  const before = await leaseView(ctx);
  let view = before;
  let allEndedAfterS: number | null = null;
  let buffers = "";
  let held = ports.size;
  // Until the wait is over, or the gateway has both ended every stream and closed every connection:
  // an ended stream whose connection stays open may still hold its unsent data in the gateway.
  while (Date.now() - t0 < st.stalledWaitS * 1000 && !signal.aborted && (view?.inFlight !== 0 || held > 0)) {
    await Bun.sleep(1000);
    view = await leaseView(ctx);
    held = heldByServer(ctx.port, ports).length;
    if (!buffers && Date.now() - t0 >= 5000) buffers = bufferedBytes(ctx.port, ports);
    if (view?.inFlight === 0 && allEndedAfterS === null) allEndedAfterS = (Date.now() - t0) / 1000;
  }
  const waitedS = ((Date.now() - t0) / 1000).toFixed(0);
  const rssThen = ((statusKB(ctx.pid, "VmRSS") ?? 0) / 1024).toFixed(1);
  const closed = st.stalled - held;
  const waited = allEndedAfterS !== null ? `0 after ~${allEndedAfterS.toFixed(0)} s` : `${view?.inFlight ?? "?"} after ${waitedS} s`;
  const streaming = view?.inFlight ?? null;
  // Now read what each one got first: the status line (a 504 means Ollama's headers never came in time).
  const tally = new Tally();
  for (const c of conns) c.sock.resume();
  await Promise.race([Promise.all(conns.map((c) => c.result)), Bun.sleep(3000)]);
  for (const c of conns) c.settle("no-answer");
  for (const r of await Promise.all(conns.map((c) => c.result))) tally.add(r);
  await Bun.sleep(2000);
  const after = await leaseView(ctx);
  return {
    requests: tally.total,
    statuses: tally,
    notes: [
      `streams still running for readers that read nothing (GET /leases in_flight): ${before?.inFlight ?? "?"} 1 s after sending, ${waited}; ${after?.inFlight ?? "?"} 2 s after the clients hung up`,
      `connections the gateway had closed (kernel TCP state) after ${waitedS} s: ${closed} of ${st.stalled}; gateway RSS then ${rssThen} MB, while the clients still held their ends open`,
      buffers || "kernel buffers not sampled (the wait ended early)",
    ],
    figures: {
      stalledStillStreaming: streaming,
      stalledAllEndedAfterS: allEndedAfterS,
      gatewayRssMBBeforeHangUp: Number(rssThen),
      stalledClosedByGateway: closed,
      inFlightBefore: before?.inFlight ?? null,
      inFlightAfterClose: after?.inFlight ?? null,
    },
  };
}

/** Where the unread stream sits: in the kernel (the client's receive queues, the gateway's send queues), or else in the gateway. */
function bufferedBytes(serverPort: number, clientPorts: Set<number>): string {
  const table = tcpTable();
  const rx = sum(table.filter((e) => clientPorts.has(e.localPort) && e.remotePort === serverPort).map((e) => e.rxQueue));
  const tx = sum(table.filter((e) => e.localPort === serverPort && clientPorts.has(e.remotePort)).map((e) => e.txQueue));
  return `after 5 s, kernel buffers held ${mb(rx)} MB unread on the clients' side and ${mb(tx)} MB unsent on the gateway's side`;
}
