// What the store holds in memory between two writes: each record added into its hour's group at once (a map
// lookup and some additions on the request's path), written out together at most once a second.
import { SUM_COLUMNS, TTFB_BUCKETS_MS } from "./schema.ts";
import type { UsageKind, UsageRecord } from "./types.ts";

export const HOUR_MS = 3_600_000;
/** A person's name from a header is cut to this. */
export const MAX_USER_CHARS = 128;
/** Distinct groups held between writes; past it, new groups fold into user=null, model="other". */
export const MAX_PENDING_GROUPS = 10_000;
/** Past this (folded groups too, while the file cannot be written), records are dropped and counted. */
const HARD_LIMIT = 2 * MAX_PENDING_GROUPS;

export const floorHour = (ms: number): number => ms - (((ms % HOUR_MS) + HOUR_MS) % HOUR_MS);

/** The TTFB bucket a time falls in: the first upper bound it does not exceed, else the last ("slower"). */
export function ttfbBucket(ms: number): number {
  for (let i = 0; i < TTFB_BUCKETS_MS.length; i++) if (ms <= TTFB_BUCKETS_MS[i]!) return i;
  return TTFB_BUCKETS_MS.length;
}

export type Group = [hour: number, key: string, user: string, model: string, machine: string, kind: UsageKind];
export interface PendingGroup {
  group: Group;
  /** In SUM_COLUMNS' order. */
  sums: number[];
}

const TTFB_AT = SUM_COLUMNS.indexOf("t0");

export class PendingSums {
  readonly groups = new Map<string, PendingGroup>();
  /** Called once, the first time groups fold (a warning: some detail is lost, no count is). */
  constructor(private readonly onFold: () => void) {}
  private warned = false;

  /** Adds a record; false when it had to be dropped (the file has been failing and memory is at its bound). */
  add(r: UsageRecord): boolean {
    const hour = floorHour(r.at);
    let user = r.user ? r.user.slice(0, MAX_USER_CHARS) : "";
    let model = r.model;
    let id = `${hour}\u0000${r.key}\u0000${user}\u0000${model}\u0000${r.machine}\u0000${r.kind}`;
    let g = this.groups.get(id);
    if (!g && this.groups.size >= MAX_PENDING_GROUPS) {
      if (!this.warned) {
        this.warned = true;
        this.onFold();
      }
      user = "";
      model = "other";
      id = `${hour}\u0000${r.key}\u0000\u0000other\u0000${r.machine}\u0000${r.kind}`;
      g = this.groups.get(id);
      if (!g && this.groups.size >= HARD_LIMIT) return false;
    }
    if (!g) {
      g = { group: [hour, r.key, user, model, r.machine, r.kind], sums: new Array(SUM_COLUMNS.length).fill(0) };
      this.groups.set(id, g);
    }
    addInto(g.sums, r);
    return true;
  }
}

function addInto(s: number[], r: UsageRecord): void {
  const f = r.figures;
  s[0]! += 1;
  if (r.status >= 400 || !r.complete) s[1]! += 1;
  s[2]! += f.promptTokens ?? 0;
  s[3]! += f.completionTokens ?? 0;
  if (f.promptTokens === null || f.completionTokens === null) s[4]! += 1;
  // OpenAI and Anthropic answers carry no durations: the gateway's own clock, less the wait for a wake, stands in.
  s[5]! += f.generationS ?? Math.max(0, r.totalS - r.wakeWaitS);
  s[6]! += f.loadS ?? 0;
  s[7]! += r.wakeWaitS;
  if (r.ttfbMs !== null) s[TTFB_AT + ttfbBucket(r.ttfbMs)]! += 1;
}
