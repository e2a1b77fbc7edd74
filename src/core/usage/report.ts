// The /usage answer from the store's hourly sums: rows grouped as the reader asked (and by day or hour in TZ),
// each with its median time to first byte (from the merged bucket counts) and its share of the machines' energy.
import { dayLabel, hourLabel } from "../../lib/zoned-time.ts";
import { TTFB_BUCKETS_MS } from "./schema.ts";
import type { HourRow } from "./store.ts";
import type { UsageDerived, UsageQuery, UsageRow, UsageSums } from "./types.ts";

export type UsageTotals = UsageSums & UsageDerived;

export interface ReportOptions {
  /** The IANA zone days and hours are read in (TZ). */
  tz: string;
  /** A machine's on-energy per UTC hour start over the query's period; null when it has no watts set. */
  energyByHour: (machine: string) => Map<number, { kwh: number; onS: number }> | null;
}

/** The columns of a row, grouped fields first: the CSV's header. */
export const SUM_FIELDS = [
  "requests",
  "errors",
  "prompt_tokens",
  "completion_tokens",
  "unreported",
  "generation_s",
  "load_s",
  "ttfb_ms_p50",
  "wake_wait_s",
  "energy_kwh",
] as const;

interface Acc {
  row: UsageRow;
  ttfb: number[];
  /** Energy summed from the machines that have watts; `anyWatts` false: every machine of the row has none. */
  kwh: number;
  anyWatts: boolean;
}

const emptyTtfb = () => new Array<number>(TTFB_BUCKETS_MS.length + 1).fill(0);

/**
 * The period's hourly sums (as the store found them for [q.from, q.to), every key's) grouped by `q.groupBy`
 * (and q.bucket in `o.tz`), sorted by completion tokens, most first. A row's energy
 * is, for each hour and machine it covers, the busy part of the machine's on-energy that hour (the on-energy ×
 * generation seconds ÷ seconds on, at most all of it) × the row's share of those generation seconds (among all
 * rows given, so a key reading only its own rows is charged only its share); only then are the rows narrowed to
 * `q.key`. The rest of the on-energy is idle: /energy's idle_kwh, by the same rule, so rows and idle add up.
 */
export function usageReport(hours: HourRow[], q: UsageQuery, o: ReportOptions): { rows: UsageRow[]; totals: UsageTotals } {
  const genByMachineHour = new Map<string, number>();
  for (const h of hours) {
    const k = `${h.machine}\u0000${h.hour}`;
    genByMachineHour.set(k, (genByMachineHour.get(k) ?? 0) + h.generation_s);
  }
  const energy = new Map<string, Map<number, { kwh: number; onS: number }> | null>();
  const energyOf = (machine: string) => {
    if (!energy.has(machine)) energy.set(machine, o.energyByHour(machine));
    return energy.get(machine)!;
  };
  const labels = new Map<number, string>();
  const label = (hour: number) => {
    let l = labels.get(hour);
    if (l === undefined) labels.set(hour, (l = q.bucket === "day" ? dayLabel(hour, o.tz) : hourLabel(hour, o.tz)));
    return l;
  };

  const groups = new Map<string, Acc>();
  for (const h of hours) {
    if (q.key !== undefined && h.key !== q.key) continue;
    let id = "";
    for (const f of q.groupBy) id += `${h[f] ?? "\u0001"}\u0000`;
    const when = q.bucket ? label(h.hour) : "";
    id += when;
    let acc = groups.get(id);
    if (!acc) groups.set(id, (acc = { row: newRow(h, q, when), ttfb: emptyTtfb(), kwh: 0, anyWatts: false }));
    add(acc, h);
    const machineHours = energyOf(h.machine);
    if (machineHours) {
      acc.anyWatts = true;
      const gen = genByMachineHour.get(`${h.machine}\u0000${h.hour}`) ?? 0;
      const hour = machineHours.get(h.hour);
      if (gen > 0 && hour && hour.onS > 0) acc.kwh += ((hour.kwh * Math.min(gen, hour.onS)) / hour.onS) * (h.generation_s / gen);
    }
  }

  const rows = [...groups.values()].map(finish);
  rows.sort((a, b) => b.completion_tokens - a.completion_tokens || b.requests - a.requests);
  return { rows, totals: totalsOf([...groups.values()]) };
}

function blank(): Omit<UsageRow, "ttfb_ms_p50" | "energy_kwh"> {
  return { requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, unreported: 0, generation_s: 0, load_s: 0, wake_wait_s: 0 };
}

/** The grouped fields first, in the order asked, then the day or hour, then the sums in SUM_FIELDS' order. */
function newRow(h: HourRow, q: UsageQuery, when: string): UsageRow {
  const out: Record<string, unknown> = {};
  for (const f of q.groupBy) out[f] = h[f];
  if (q.bucket) out[q.bucket] = when;
  for (const f of SUM_FIELDS) out[f] = f === "ttfb_ms_p50" || f === "energy_kwh" ? null : 0;
  return out as unknown as UsageRow;
}

function add(acc: Acc, h: HourRow): void {
  const r = acc.row;
  r.requests += h.requests;
  r.errors += h.errors;
  r.prompt_tokens += h.prompt_tokens;
  r.completion_tokens += h.completion_tokens;
  r.unreported += h.unreported;
  r.generation_s += h.generation_s;
  r.load_s += h.load_s;
  r.wake_wait_s += h.wake_wait_s;
  for (let i = 0; i < acc.ttfb.length; i++) acc.ttfb[i]! += h.ttfb[i] ?? 0;
}

const seconds = (s: number) => Math.round(s * 1000) / 1000;
const kwh = (k: number) => Math.round(k * 1e6) / 1e6;

function finish(acc: Acc): UsageRow {
  const r = acc.row;
  r.generation_s = seconds(r.generation_s);
  r.load_s = seconds(r.load_s);
  r.wake_wait_s = seconds(r.wake_wait_s);
  r.ttfb_ms_p50 = ttfbMedian(acc.ttfb);
  r.energy_kwh = acc.anyWatts ? kwh(acc.kwh) : null;
  return r;
}

function totalsOf(accs: Acc[]): UsageTotals {
  const t: UsageTotals = { ...blank(), ttfb_ms_p50: null, energy_kwh: null };
  const ttfb = emptyTtfb();
  let energy = 0;
  let anyWatts = false;
  for (const a of accs) {
    for (const f of ["requests", "errors", "prompt_tokens", "completion_tokens", "unreported", "generation_s", "load_s", "wake_wait_s"] as const) {
      t[f] += a.row[f];
    }
    for (let i = 0; i < ttfb.length; i++) ttfb[i]! += a.ttfb[i]!;
    if (a.anyWatts) {
      anyWatts = true;
      energy += a.kwh;
    }
  }
  t.generation_s = seconds(t.generation_s);
  t.load_s = seconds(t.load_s);
  t.wake_wait_s = seconds(t.wake_wait_s);
  t.ttfb_ms_p50 = ttfbMedian(ttfb);
  t.energy_kwh = anyWatts ? kwh(energy) : null;
  return t;
}

/**
 * The median time to first byte from bucket counts, read as Prometheus reads a histogram: linearly within the
 * bucket the middle request falls in (from the bucket below's bound, 0 for the first). Past the last bound
 * nothing is known but "slower": the last bound is the answer. No request with a first byte: null.
 */
export function ttfbMedian(counts: readonly number[]): number | null {
  let n = 0;
  for (const c of counts) n += c;
  if (n === 0) return null;
  const rank = n / 2;
  let below = 0;
  for (let i = 0; i < TTFB_BUCKETS_MS.length; i++) {
    const c = counts[i] ?? 0;
    if (c > 0 && below + c >= rank) {
      const lower = i === 0 ? 0 : TTFB_BUCKETS_MS[i - 1]!;
      return Math.round(lower + ((TTFB_BUCKETS_MS[i]! - lower) * (rank - below)) / c);
    }
    below += c;
  }
  return TTFB_BUCKETS_MS[TTFB_BUCKETS_MS.length - 1]!;
}
