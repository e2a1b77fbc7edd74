// Scenario 6: fill the lease table to its cap, knock on it, and time /arrancar empty and full.

import { statSync } from "node:fs";
import { call, leaseView } from "./gate.ts";
import { pool, Tally } from "./measure.ts";
import type { Outcome } from "./scenario.ts";
import type { Ctx, Settings } from "./settings.ts";

interface Taken {
  label: string;
  id: string | null;
  retryAfter: string | null;
}

async function take(ctx: Ctx, tally: Tally, holder: string): Promise<Taken> {
  const a = await call(ctx, "POST", `/arrancar?holder=${holder}`);
  tally.add(a.label);
  let id: string | null = null;
  try {
    id = a.status === 200 ? (JSON.parse(a.text).lease_id ?? null) : null;
  } catch {}
  return { label: a.label, id, retryAfter: a.headers?.get("retry-after") ?? null };
}

async function release(ctx: Ctx, tally: Tally, id: string): Promise<void> {
  tally.add((await call(ctx, "POST", `/apagar?lease_id=${encodeURIComponent(id)}`)).label);
}

/** /arrancar then /apagar of that lease, `n` times on `clients` workers: cycles per second (each is one of each). */
async function cycleRate(ctx: Ctx, tally: Tally, n: number, clients: number, signal: AbortSignal): Promise<number> {
  const t0 = performance.now();
  let done = 0;
  await pool(n, clients, { deadline: Date.now() + 30_000, signal }, async () => {
    const t = await take(ctx, tally, "rate");
    if (t.id) await release(ctx, tally, t.id);
    if (t.id) done++;
  });
  return Math.round((done / ((performance.now() - t0) / 1000)) * 10) / 10;
}

/** Releases our leases until `target` are held; the count held afterwards. */
async function releaseTo(ctx: Ctx, tally: Tally, ids: string[], target: number): Promise<number | null> {
  for (let held = (await leaseView(ctx))?.leases ?? 0; held > target && ids.length; held--) await release(ctx, tally, ids.pop()!);
  return (await leaseView(ctx))?.leases ?? null;
}

function fileSize(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

export async function leases(ctx: Ctx, st: Settings, signal: AbortSignal): Promise<Outcome> {
  const tally = new Tally();
  // permanent_on: releasing the last lease must not shut the machine down in every cycle of the rate loop.
  tally.add((await call(ctx, "POST", "/init")).label);
  tally.add((await call(ctx, "POST", "/permanent_on_enable")).label);
  const empty = {
    seq: await cycleRate(ctx, tally, st.rateIterations, 1, signal),
    par: await cycleRate(ctx, tally, st.rateIterations, st.rateClients, signal),
  };

  const ids: string[] = [];
  const fill = await pool(st.leases, st.leaseClients, { deadline: Date.now() + 60_000, signal }, async (i) => {
    const t = await take(ctx, tally, `fill-${i}`);
    if (t.id) ids.push(t.id);
  });
  // Up to the cap exactly, then beyond it: these should be refused with 429 and a Retry-After.
  for (let held = (await leaseView(ctx))?.leases ?? 0, tries = 0; held < st.maxLeases && tries < st.maxLeases && !signal.aborted; held++, tries++) {
    const t = await take(ctx, tally, "top-up");
    if (!t.id) break;
    ids.push(t.id);
  }
  const atCap = await leaseView(ctx);
  const statusFileBytes = fileSize(ctx.statusFile);
  const over = new Tally();
  let withRetryAfter = 0;
  for (let i = 0; i < st.overCap && !signal.aborted; i++) {
    const t = await take(ctx, tally, "over-cap");
    over.add(t.label);
    if (t.label === "429" && t.retryAfter) withRetryAfter++;
    if (t.id) ids.push(t.id); // no cap yet: the lease was taken after all
  }
  // Down to cap − 1, so each /arrancar of the loop takes the last free slot and its /apagar frees it;
  // then to cap − clients, so that at a real cap the parallel loop's clients are not refused each other's slot.
  const seqView = await releaseTo(ctx, tally, ids, st.maxLeases - 1);
  const seq = await cycleRate(ctx, tally, st.rateIterations, 1, signal);
  const parView = await releaseTo(ctx, tally, ids, st.maxLeases - st.rateClients);
  const full = { seq, par: await cycleRate(ctx, tally, st.rateIterations, st.rateClients, signal) };
  tally.add((await call(ctx, "POST", "/init")).label);

  return {
    requests: tally.total,
    statuses: tally,
    notes: [
      `${fill} /arrancar at ${st.leaseClients} clients; ${atCap?.leases ?? "?"} leases held at the cap, status file ${statusFileBytes ?? "?"} bytes`,
      `${st.overCap} more beyond the cap: ${over.format()} (${withRetryAfter} of the 429s with Retry-After)`,
      `/arrancar+/apagar cycles/s with 0 leases: ${empty.seq} sequential, ${empty.par} at ${st.rateClients} clients; with ${seqView ?? "?"} leases held: ${full.seq} sequential; with ${parView ?? "?"}: ${full.par} at ${st.rateClients} clients`,
    ],
    figures: {
      leasesAtCap: atCap?.leases ?? null,
      statusFileBytesAtCap: statusFileBytes,
      overCapStatuses: over.format(),
      overCapRetryAfter: withRetryAfter,
      leasesDuringFullSequential: seqView,
      leasesDuringFullParallel: parView,
      cyclesPerS_empty_sequential: empty.seq,
      cyclesPerS_empty_parallel: empty.par,
      cyclesPerS_full_sequential: full.seq,
      cyclesPerS_full_parallel: full.par,
    },
  };
}
