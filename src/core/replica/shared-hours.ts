// The shared store's hourly keys (usage and plug sums, one hash per UTC hour): which hours a read covers, and
// reading many hashes in few round trips. An hour's keys expire USAGE_RETENTION_DAYS after the hour ends, so a
// read never asks for hours older than that (nor for more than a day ahead: no record is stamped later).
import { HOUR_MS } from "../usage/pending.ts";
import type { SharedStore } from "./store.ts";

export const DAY_MS = 86_400_000;
/**
 * Hashes asked for at once, a step after another: plain HGETALLs, never one long script, so Redis serves the other
 * replicas between them, and on the store's link for long reads, so a year of usage never holds up a lease.
 */
const PER_STEP = 48;

/** When an hour's keys expire (ms): the retention after the hour's end, as the usage store prunes. */
export const expiresAt = (hour: number, retentionDays: number): number => hour + HOUR_MS + retentionDays * DAY_MS;

/** The UTC hour starts in [from, to) (from rounded up to an hour), within what the store can still hold at `now`. */
export function hourStarts(from: number, to: number, now: number, retentionDays: number): number[] {
  const oldest = now - HOUR_MS - retentionDays * DAY_MS;
  const latest = now + DAY_MS;
  const first = Math.ceil(Math.max(from, oldest) / HOUR_MS) * HOUR_MS;
  const out: number[] = [];
  for (let h = first; h < to && h <= latest; h += HOUR_MS) out.push(h);
  return out;
}

/** Each key's hash as field → value (empty for a key that does not exist), in the keys' order. */
export async function readHashes(store: Pick<SharedStore, "bulk">, keys: string[]): Promise<Map<string, string>[]> {
  const out: Map<string, string>[] = [];
  for (let i = 0; i < keys.length; i += PER_STEP) {
    const step = await Promise.all(keys.slice(i, i + PER_STEP).map((k) => store.bulk("HGETALL", [k])));
    for (const answer of step) out.push(asMap(answer));
  }
  return out;
}

/** A hash as Redis gave it: a map (RESP3) or a flat list of fields and values (RESP2). */
function asMap(answer: unknown): Map<string, string> {
  const m = new Map<string, string>();
  if (Array.isArray(answer)) for (let j = 0; j + 1 < answer.length; j += 2) m.set(String(answer[j]), String(answer[j + 1]));
  else if (answer && typeof answer === "object") for (const [k, v] of Object.entries(answer)) m.set(k, String(v));
  return m;
}

/** A number as a script's argument: finite, never in exponent form (HINCRBY takes integers only). */
export function integerArg(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return "0";
  return String(Math.min(Math.round(n), Number.MAX_SAFE_INTEGER));
}

/** A non-negative amount for HINCRBYFLOAT; anything else (NaN, infinite, negative) adds nothing. */
export function floatArg(n: number): string {
  // Below a microsecond or a microwatt-hour nothing is lost; above 1e15 a figure is no measurement.
  if (!Number.isFinite(n) || n < 1e-6) return "0";
  return String(Math.min(n, 1e15));
}
