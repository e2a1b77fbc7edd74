// What the store holds in memory between two writes: each record added into its hour's group at once (a map
// lookup and some additions on the request's path), written out together at most once a second.
import { failedRequest, generationSecondsOf, loadSecondsOf } from "./rules.ts";
import { SUM_COLUMNS, TTFB_BUCKETS_MS } from "./schema.ts";
import type { UsageKind, UsageRecord } from "./types.ts";

export const HOUR_MS = 3_600_000;
/** A person's name from a header is cut to this. */
export const MAX_USER_CHARS = 128;
/** Distinct groups held between writes; past it, new groups fold into user=null, model="other". */
export const MAX_PENDING_GROUPS = 10_000;
/**
 * Distinct people (user_header values) one key may bring in a day; past it, that key's new ones count as
 * OTHER_USER. A header's value is the client's to choose: without this, a key sending a new one on every
 * request would grow the file by a row per request.
 */
export const MAX_USERS_PER_KEY_DAY = 100;
export const OTHER_USER = "other";
export const DAY_MS = 86_400_000;
/** Past this, the people seen are forgotten (keys are configured: far fewer). */
const MAX_KEYS_TRACKED = 1000;
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
  /** Per key, the people counted today: kept across writes, so the bound holds for the file, not only for memory. */
  private readonly people = new Map<string, { day: number; users: Set<string>; before: Set<string> }>();

  /** Adds a record; false when it had to be dropped (the file has been failing and memory is at its bound). */
  add(r: UsageRecord): boolean {
    const hour = floorHour(r.at);
    let user = r.user ? this.person(r.key, r.user.slice(0, MAX_USER_CHARS), r.at) : "";
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

  /** The people a key already brought today, read back from the file at open: a restart does not allow 100 more. */
  seedPeople(at: number, rows: { key: string; user: string }[]): void {
    const day = Math.floor(at / DAY_MS);
    for (const { key, user } of rows) {
      if (user === OTHER_USER) continue;
      let seen = this.people.get(key);
      if (!seen) this.people.set(key, (seen = { day, users: new Set(), before: new Set() }));
      if (seen.users.size < MAX_USERS_PER_KEY_DAY) seen.users.add(user);
    }
  }

  /** The person as counted: `user`, or OTHER_USER once the key has brought MAX_USERS_PER_KEY_DAY others today (UTC). */
  private person(key: string, user: string, at: number): string {
    const day = Math.floor(at / DAY_MS);
    let seen = this.people.get(key);
    if (!seen || day > seen.day) {
      if (!seen && this.people.size >= MAX_KEYS_TRACKED) this.people.clear();
      // Yesterday's set is kept beside today's: a request that began before midnight ends after it.
      const before = seen && seen.day === day - 1 ? seen.users : new Set<string>();
      seen = { day, users: new Set(), before };
      this.people.set(key, seen);
    }
    const users = day === seen.day ? seen.users : day === seen.day - 1 ? seen.before : null;
    if (!users) return OTHER_USER; // older still: its day's set is gone
    if (users.has(user)) return user;
    if (users.size >= MAX_USERS_PER_KEY_DAY) return OTHER_USER;
    users.add(user);
    return user;
  }
}

function addInto(s: number[], r: UsageRecord): void {
  const f = r.figures;
  s[0]! += 1;
  if (failedRequest(r)) s[1]! += 1;
  s[2]! += f.promptTokens ?? 0;
  s[3]! += f.completionTokens ?? 0;
  if (f.promptTokens === null || f.completionTokens === null) s[4]! += 1;
  s[5]! += generationSecondsOf(r);
  s[6]! += loadSecondsOf(r);
  s[7]! += r.wakeWaitS;
  if (r.ttfbMs !== null) s[TTFB_AT + ttfbBucket(r.ttfbMs)]! += 1;
}
