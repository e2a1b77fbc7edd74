// The machines' power states and plug readings shared by every replica (STATE_URL), so /energy and /usage's
// energy answer the same on each. Only the replica that leads a machine is handed its changes and readings.
//
// The states are kept as the usage store keeps them: each change (a sorted set per machine, `at|state` scored by
// `at`), an interval running from one change to the next, read back into the same intervals (intervals.ts). So
// no second is counted twice or left out, whoever wrote the change: when the lead passes from one replica to
// another, the old leader's last state runs until the new leader's first, the gap between them included (a
// change written twice, or one written late, only splits an interval). Unlike the usage file, the time no
// replica ran is not told apart: with replicas some replica is meant to be running. Plug readings are summed
// per UTC hour and machine, weighted as the store weighs them (weights.ts), in hashes that expire with the
// retention. Written in batches as the usage sums are (batch-writer.ts): exactly once, kept while Redis is away.
import type { PowerState } from "../power/states.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { EnergyReadings, PowerLog } from "../usage/energy.ts";
import { intervalsOf, type PowerChange } from "../usage/intervals.ts";
import { floorHour } from "../usage/pending.ts";
import type { PowerInterval } from "../usage/types.ts";
import { ReadingWeights } from "../usage/weights.ts";
import { BatchWriter, SEQ_TTL_MS } from "./batch-writer.ts";
import { DAY_MS, expiresAt, floatArg, hourStarts, readHashes } from "./shared-hours.ts";
import type { SharedStore } from "./store.ts";

/** Changes and readings held while the store is away; the oldest changes go first past it (as the store's). */
const MAX_PENDING = 10_000;
/** Changes kept per machine past the retention's own pruning: a machine that flaps on every probe stays bounded. */
export const MAX_CHANGES = 100_000;
const ENTRIES_PER_BATCH = 500;
/** Each entry is 5 arguments: "c", machine, at, state, "" or "r", machine, hour, watts × seconds, seconds. */
const ENTRY_ARGS = 5;

const ADD_POWER = `
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[2]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ${SEQ_TTL_MS})
local p, retention, keep, now, maxChanges = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local touched = {}
local i = 7
while i <= #ARGV do
  local machine = ARGV[i+1]
  if ARGV[i] == 'c' then
    local z = p .. 'power:changes:' .. machine
    redis.call('ZREMRANGEBYSCORE', z, ARGV[i+2], ARGV[i+2])
    redis.call('ZADD', z, ARGV[i+2], ARGV[i+2] .. '|' .. ARGV[i+3])
    touched[z] = true
  else
    local m = p .. 'power:meter:' .. ARGV[i+2]
    redis.call('HINCRBYFLOAT', m, 's|' .. machine, ARGV[i+3])
    redis.call('HINCRBYFLOAT', m, 'n|' .. machine, ARGV[i+4])
    redis.call('PEXPIREAT', m, string.format('%.0f', tonumber(ARGV[i+2]) + keep))
  end
  i = i + ${ENTRY_ARGS}
end
for z in pairs(touched) do
  local cutoff = string.format('%.0f', now - retention)
  local before = redis.call('ZREVRANGEBYSCORE', z, cutoff, '-inf', 'LIMIT', 0, 1)
  if before[1] then redis.call('ZREMRANGEBYSCORE', z, '-inf', '(' .. string.match(before[1], '^[^|]+')) end
  local extra = redis.call('ZCARD', z) - maxChanges
  if extra > 0 then redis.call('ZREMRANGEBYRANK', z, 0, extra - 1) end
  redis.call('PEXPIRE', z, string.format('%.0f', retention + ${DAY_MS}))
end
return 1`;

// The last change at or before `from` (what the machine was then), and every one after it before `to`.
const READ_CHANGES =
  "local a = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', 0, 1) " +
  "local b = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '(' .. ARGV[2]) " +
  "for _, c in ipairs(b) do a[#a + 1] = c end return a";

export interface SharedPowerOptions {
  store: SharedStore;
  logger: Logger;
  retentionDays: number;
  now?: () => number;
  onError?: (what: string) => void;
}

export class SharedPower implements PowerLog, Pick<EnergyReadings, "intervals"> {
  private readonly now: () => number;
  private changes: [machine: string, at: number, state: PowerState][] = [];
  private readonly readings = new Map<string, [machine: string, hour: number, sum: number, n: number]>();
  private readonly weights = new ReadingWeights(MAX_PENDING);
  private readonly writer: BatchWriter;

  constructor(private readonly o: SharedPowerOptions) {
    this.now = o.now ?? Date.now;
    this.writer = new BatchWriter({
      store: o.store,
      logger: o.logger,
      what: "power",
      take: () => this.take(),
      pending: () => this.changes.length > 0 || this.readings.size > 0,
      write: (seqKey, seq, args) => {
        const retentionMs = o.retentionDays * DAY_MS;
        // An hour's plug sums live as long as its usage sums (the retention after the hour ends).
        const keepMs = expiresAt(0, o.retentionDays);
        const head = [o.store.prefix, String(seq), String(retentionMs), String(keepMs), String(this.now()), String(MAX_CHANGES)];
        return o.store.eval(ADD_POWER, [seqKey], [...head, ...args]);
      },
      onError: () => o.onError?.("write"),
    });
  }

  /** A state the leader's monitor settled on: an interval starts (it runs until the machine's next change). */
  powerChanged(machine: string, state: PowerState, at: number): void {
    if (this.changes.length >= MAX_PENDING) this.changes.shift();
    this.changes.push([machine, at, state]);
    this.weights.stateChanged(machine, state, at);
    this.writer.note();
  }

  /** A plug's reading, summed into its hour weighted by the seconds it stands for. */
  meterReading(machine: string, watts: number, at: number): void {
    if (!Number.isFinite(watts) || watts < 0) return;
    const weight = this.weights.weigh(machine, at);
    const hour = floorHour(at);
    const id = `${machine}\u0000${hour}`;
    const r = this.readings.get(id);
    if (r) {
      r[2] += watts * weight;
      r[3] += weight;
    } else if (this.readings.size < MAX_PENDING) this.readings.set(id, [machine, hour, watts * weight, weight]);
    else return void this.o.onError?.("dropped");
    this.writer.note();
  }

  private take(): string[] | null {
    if (this.changes.length === 0 && this.readings.size === 0) return null;
    const args: string[] = [];
    for (const [machine, at, state] of this.changes.splice(0, ENTRIES_PER_BATCH)) args.push("c", machine, String(at), state, "");
    for (const [id, [machine, hour, sum, n]] of this.readings) {
      if (args.length >= ENTRIES_PER_BATCH * ENTRY_ARGS) break;
      args.push("r", machine, String(hour), floatArg(sum), floatArg(n));
      this.readings.delete(id);
    }
    return args;
  }

  /** Writes what is pending; rejects with StoreAwayError while the store is away (it stays pending). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } catch {
      this.o.logger.error("power: the shared store is away at stop; the changes not yet written are lost", { changes: this.changes.length });
    }
    this.writer.close();
  }

  /** The machine's state intervals overlapping [from, to) (the last one ends at now), with a plug's hourly means. */
  async intervals(machine: string, from: number, to: number): Promise<PowerInterval[]> {
    await this.flush();
    const end = Math.min(to, this.now());
    if (end <= from) return [];
    const store = this.o.store;
    const members = (await store.eval(READ_CHANGES, [store.key("power", "changes", machine)], [String(from), String(end)])) as unknown[];
    const changes: PowerChange[] = [];
    for (const m of Array.isArray(members) ? members : []) {
      const [at, state] = String(m).split("|");
      if (at && state) changes.push({ at: Number(at), state: state as PowerState });
    }
    const hours = hourStarts(floorHour(from), end, this.now(), this.o.retentionDays);
    const measured = new Map<number, number>();
    (
      await readHashes(
        store,
        hours.map((h) => store.key("power", "meter", String(h))),
      )
    ).forEach((fields, i) => {
      const sum = Number(fields.get(`s|${machine}`));
      const n = Number(fields.get(`n|${machine}`));
      if (n > 0 && Number.isFinite(sum)) measured.set(hours[i]!, sum / n);
    });
    return intervalsOf(machine, changes, measured, from, end);
  }
}
