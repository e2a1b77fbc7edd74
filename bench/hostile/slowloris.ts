// Scenario 7: many connections that trickle a request's headers a byte at a time, and never finish them.
import { exchange, Tally } from "./measure.ts";
import { RawConn } from "./raw.ts";
import type { Outcome } from "./scenario.ts";
import type { Ctx, Settings } from "./settings.ts";

// No key in it: the headers never end, so the gateway never gets as far as asking for one.
const REQUEST = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hostile-slowloris\r\nX-Pad: " + "a".repeat(1000);

/** GET / while the trickle goes on: does the gateway still answer everyone else, and how fast? */
async function liveness(ctx: Ctx, until: number, signal: AbortSignal): Promise<number[]> {
  const ms: number[] = [];
  while (Date.now() < until && !signal.aborted) {
    const a = await exchange(ctx.url + "/", {}, 2000);
    ms.push(a.status === 200 ? a.ms : Infinity);
    await Bun.sleep(500);
  }
  return ms;
}

export async function slowloris(ctx: Ctx, st: Settings, signal: AbortSignal): Promise<Outcome> {
  const conns = Array.from({ length: st.slowloris }, () => new RawConn(ctx.port, (st.slowlorisS + 30) * 1000));
  await Promise.all(conns.map((c) => c.connected));
  const t0 = performance.now();
  const until = Date.now() + st.slowlorisS * 1000;
  const probes = liveness(ctx, until, signal);
  let sent = 0;
  for (let i = 0; Date.now() < until && !signal.aborted; i++) {
    // One byte each, not awaited: a single byte never fills a socket buffer.
    for (const c of conns) if (c.open) c.sock.write(REQUEST[i % REQUEST.length]!);
    sent++;
    await Bun.sleep(st.slowlorisByteMs);
  }
  const endedDuring = conns.filter((c) => !c.open).length;
  // Then silence: does the gateway ever drop connections that stopped mid-headers?
  await Bun.sleep(3000);
  const ended = conns.filter((c) => !c.open).map((c) => (c.settledAt - t0) / 1000);
  for (const c of conns) c.settle("still-open");
  const tally = new Tally();
  for (const r of await Promise.all(conns.map((c) => c.result))) tally.add(r);
  const ms = await probes;
  const ok = ms.filter(Number.isFinite);
  const when = ended.length ? ` ${Math.min(...ended).toFixed(1)}–${Math.max(...ended).toFixed(1)} s after connecting` : "";
  return {
    requests: tally.total,
    statuses: tally,
    notes: [
      `${st.slowloris} connections, ${sent} bytes each at one per ${st.slowlorisByteMs} ms for ${st.slowlorisS} s, then silence`,
      `ended by the gateway: ${ended.length} (${endedDuring} during the trickle),${when}; still open 3 s after the trickle stopped: ${tally.counts["still-open"] ?? 0}`,
      `GET / from another client meanwhile: ${ok.length} of ${ms.length} answered, slowest ${ok.length ? Math.max(...ok).toFixed(1) : "n/a"} ms`,
    ],
  };
}
