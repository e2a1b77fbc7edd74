// The shared store's hourly keys (usage and plug sums, one hash per UTC hour): which hours a read covers, and
// reading many hashes in few round trips. An hour's keys expire USAGE_RETENTION_DAYS after the hour ends, so a
// read never asks for hours older than that (nor for more than a day ahead: no record is stamped later).
import { HOUR_MS } from "../usage/pending.ts";
import type { SharedStore } from "./store.ts";

export const DAY_MS = 86_400_000;
/** Hashes read by one script: a year of hours is some twenty round trips, none of them a huge answer. */
const PER_READ = 500;

const READ_ALL = "local out = {} for i, k in ipairs(KEYS) do out[i] = redis.call('HGETALL', k) end return out";

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
export async function readHashes(store: SharedStore, keys: string[]): Promise<Map<string, string>[]> {
  const parts: Promise<unknown>[] = [];
  for (let i = 0; i < keys.length; i += PER_READ) parts.push(store.eval(READ_ALL, keys.slice(i, i + PER_READ), []));
  const answers = (await Promise.all(parts)).flatMap((a) => (Array.isArray(a) ? a : []));
  return keys.map((_, i) => {
    const flat = answers[i];
    const m = new Map<string, string>();
    if (Array.isArray(flat)) for (let j = 0; j + 1 < flat.length; j += 2) m.set(String(flat[j]), String(flat[j + 1]));
    return m;
  });
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
