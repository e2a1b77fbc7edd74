// Small authenticated calls to the gateway, used between and inside scenarios.
import { type Answer, exchange } from "./measure.ts";
import type { Ctx } from "./settings.ts";

export interface CallOptions {
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export function call(ctx: Ctx, method: string, path: string, o: CallOptions = {}): Promise<Answer> {
  const headers = { "X-API-Key": ctx.key, ...(o.body !== undefined ? { "Content-Type": "application/json" } : {}), ...o.headers };
  return exchange(ctx.url + path, { method, headers, body: o.body }, o.timeoutMs ?? 10_000, true);
}

export interface LeaseView {
  leases: number;
  inFlight: number;
  powerState: string;
}

/** GET /leases, reduced to the counts; null if the gateway did not answer sensibly. */
export async function leaseView(ctx: Ctx): Promise<LeaseView | null> {
  const a = await call(ctx, "GET", "/leases");
  if (a.status !== 200) return null;
  try {
    const j = JSON.parse(a.text);
    return { leases: j.peticions_ollama, inFlight: j.in_flight, powerState: j.power_state };
  } catch {
    return null;
  }
}

/**
 * Between scenarios: no leases, the machine on, nothing in flight, so each scenario starts from the
 * same place whatever the previous one left behind (the fuzz may have shut the machine down).
 */
export async function settle(ctx: Ctx, maxMs = 20_000): Promise<string> {
  const waited = await untilNotThrottled(ctx);
  const deadline = Date.now() + maxMs;
  await call(ctx, "POST", "/init");
  await call(ctx, "POST", "/permanent_on_disable");
  const ready = await call(ctx, "GET", "/ready?timeout_s=15", { timeoutMs: 17_000 });
  let view = await leaseView(ctx);
  while (view && view.inFlight > 0 && Date.now() < deadline) {
    await Bun.sleep(250);
    view = await leaseView(ctx);
  }
  return `${waited ? `throttle waited out in ${waited} s, ` : ""}ready ${ready.label}, leases ${view?.leases ?? "?"}, in flight ${view?.inFlight ?? "?"}, power ${view?.powerState ?? "?"}`;
}

/**
 * The fuzz sends thousands of wrong keys from this address, and the gateway then refuses every key from it
 * (429) for up to a minute: the next scenario would measure only refusals. Asks once a second until
 * the bench's own key is let through again; returns the seconds waited.
 */
async function untilNotThrottled(ctx: Ctx, maxS = 70): Promise<number> {
  const began = Date.now();
  for (;;) {
    const a = await call(ctx, "GET", "/leases");
    if (a.status !== 429 || Date.now() - began > maxS * 1000) return Math.round((Date.now() - began) / 1000);
    await Bun.sleep(1000);
  }
}
