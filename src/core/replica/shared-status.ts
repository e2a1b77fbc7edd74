// A machine's status (leases, permanent_on, the deferred shutdown, the power state and its times) in the shared
// store, for replicas: the same document as the status file, in one hash with a version. Every change is applied
// to the version it was computed from, or computed again: a compare-and-set script writes it only if nobody wrote
// in between, so changes made on several replicas at once are applied as if one after another, each exactly once.
import { existsSync } from "node:fs";
import { rename } from "node:fs/promises";
import { Mutex } from "../../lib/mutex.ts";
import { UnavailableError } from "../errors.ts";
import { statusSchema } from "../power/status.ts";
import { baseStatus, type Status, type StatusChange, type StatusStorage } from "../power/status-store.ts";
import type { Logger } from "../telemetry/logger.ts";
import { type SharedStore, StoreAwayError } from "./store.ts";

// Written only when the version is still the one read; then every replica hears of the new version. A version is an
// epoch (a random id set when the status is first written) and a count: a Redis restarted empty, or one that lost
// its last second, starts a new epoch, so nobody compares counts of two histories.
// ARGV: the epoch and count read, the new status, the epoch to start if there is none yet, and for a leader's write
// its owner, refused (-1) unless it still holds the machine's lock (KEYS[3]).
const CAS =
  "if ARGV[5] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[5] then return -1 end " +
  "local e = redis.call('HGET', KEYS[1], 'e') or '' local v = redis.call('HGET', KEYS[1], 'v') or '0' " +
  "if e ~= ARGV[1] or v ~= ARGV[2] then return 0 end " +
  "local n = tonumber(v) + 1 if e == '' then e = ARGV[4] end " +
  "redis.call('HSET', KEYS[1], 'e', e, 'v', n, 's', ARGV[3]) " +
  "redis.call('PUBLISH', KEYS[2], e .. ':' .. n) return n";

interface Versioned {
  epoch: string;
  n: number;
  status: Status;
}

const NOT_LEADER = "This gateway no longer leads the machine; its change was not written. Try again";

/** Past this many lost races in a row something is wrong; the change fails rather than spin. */
const MAX_ATTEMPTS = 50;

interface Pending {
  change: StatusChange;
  leader: boolean;
  resolve: (status: Status) => void;
  reject: (err: unknown) => void;
}

export interface SharedStatusOptions {
  store: SharedStore;
  machine: string;
  /** The machine's status file: its content seeds the shared status the first time (an upgrade keeps its leases). */
  file: string;
  logger: Logger;
  now: () => Date;
  /** The machine's lock and this process's owner name there: a leader's write lands only while it holds it. */
  fence?: { key: string; owner: string };
}

export class SharedStatus implements StatusStorage {
  last?: Status;
  private epoch = "";
  private version = 0;
  /** The status file is used once, to seed a shared status that does not exist yet; then it is moved aside. */
  private fileSettled = false;
  private readonly lock = new Mutex();
  private queued: Pending[] = [];
  private readonly key: string;
  private readonly channel: string;
  private readonly listeners: ((s: Status) => void)[] = [];

  constructor(private readonly o: SharedStatusOptions) {
    this.key = o.store.key("status", o.machine);
    this.channel = o.store.key("status-changed", o.machine);
    // Another replica wrote: those who follow the state (the monitor of a replica that does not lead) hear it at once.
    o.store.subscribe(`status-changed:${o.machine}`, (message) => {
      const [epoch, n] = message.split(":");
      if (epoch !== this.epoch || Number(n) > this.version) void this.read().catch(() => {});
    });
    o.store.onReconnect(() => void this.read().catch(() => {}));
  }

  get file(): string {
    return this.o.file;
  }

  /** Called with the status each time a newer version is read (written here or by another replica). */
  onChange(listener: (s: Status) => void): void {
    this.listeners.push(listener);
  }

  async removeCrashLeftovers(): Promise<void> {}

  async read(): Promise<Status> {
    return (await this.readVersioned()).status;
  }

  /** The status with the version it is, read together: a change is computed from, and compared against, that one. */
  private async readVersioned(): Promise<Versioned> {
    const [e, v, text] = (await this.o.store.send("HMGET", [this.key, "e", "v", "s"])) as (string | null)[];
    if (v === null || text === null) return this.seed();
    const read = { epoch: e ?? "", n: Number(v), status: this.parse(text) };
    this.seen(read);
    if (!this.fileSettled) await this.settleFile(null);
    return read;
  }

  update(change: StatusChange, opts: { leader?: boolean } = {}): Promise<Status> {
    return new Promise((resolve, reject) => {
      this.queued.push({ change, leader: opts.leader === true && this.o.fence !== undefined, resolve, reject });
      if (this.queued.length === 1) void this.lock.run(() => this.commit());
    });
  }

  /** The changes queued meanwhile, in one write, as the file store does; computed again whole after a lost race. */
  private async commit(): Promise<void> {
    let batch = this.queued.splice(0);
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const from = await this.readVersioned();
        let current = from.status;
        let changed = false;
        const outcomes: ({ ok: true; status: Status } | { ok: false; err: unknown })[] = [];
        for (const item of batch) {
          try {
            const change = item.change(current);
            if (!change || Object.keys(change).length === 0) {
              outcomes.push({ ok: true, status: current });
              continue;
            }
            changed = true;
            current = { ...current, ...change, datetime: this.o.now().toISOString() };
            outcomes.push({ ok: true, status: current });
          } catch (err) {
            outcomes.push({ ok: false, err });
          }
        }
        // A change that returned nothing writes nothing (a cancel with nothing to cancel costs one read).
        if (changed) {
          const fresh = crypto.randomUUID().slice(0, 8);
          const fence = batch.some((item) => item.leader) ? this.o.fence : undefined;
          const args = [from.epoch, String(from.n), JSON.stringify(current), fresh, fence?.owner ?? ""];
          const n = Number(await this.o.store.eval(CAS, [this.key, this.channel, fence?.key ?? this.key], args));
          if (n === 0) continue; // another replica wrote since the read: compute again from what it wrote
          if (n === -1) {
            // No longer the lock's holder: its own writes are refused, the others' (a lease taken here) go on.
            for (const item of batch) if (item.leader) item.reject(new UnavailableError(NOT_LEADER, 5));
            batch = batch.filter((item) => !item.leader);
            if (batch.length === 0) return;
            continue;
          }
          this.seen({ epoch: from.epoch || fresh, n, status: current });
        }
        batch.forEach((item, i) => {
          const r = outcomes[i]!;
          if (r.ok) item.resolve(r.status);
          else item.reject(r.err);
        });
        return;
      }
      throw new UnavailableError("The shared status changed too often to write this change; try again", 1);
    } catch (err) {
      for (const item of batch) item.reject(err);
    }
  }

  /**
   * The first replica to find no status writes one: the status file's the first time (an upgrade keeps its leases),
   * base.json's after that — a Redis restarted empty must not bring back a file's leases of long ago.
   */
  private async seed(): Promise<Versioned> {
    const file = this.fileSettled ? null : await this.fromFile();
    const initial = file ?? { ...(await baseStatus(this.o.file, this.o.logger)), datetime: this.o.now().toISOString() };
    const seedArgs = ["", "0", JSON.stringify(initial), crypto.randomUUID().slice(0, 8), ""];
    const won = Number(await this.o.store.eval(CAS, [this.key, this.channel, this.key], seedArgs));
    // Whoever won the race, the status is now there.
    const [e, v, text] = (await this.o.store.send("HMGET", [this.key, "e", "v", "s"])) as (string | null)[];
    if (v === null || text === null) throw new StoreAwayError();
    const read = { epoch: e ?? "", n: Number(v), status: this.parse(text) };
    this.seen(read);
    if (!this.fileSettled) await this.settleFile(won > 0 && file ? "seeded the shared status" : null);
    return read;
  }

  /** Moves the status file aside once the shared status exists, so it never seeds it again. */
  private async settleFile(why: string | null): Promise<void> {
    this.fileSettled = true;
    if (!existsSync(this.o.file)) return;
    const aside = `${this.o.file}.before-replicas`;
    try {
      await rename(this.o.file, aside);
      this.o.logger.info(
        why ? "the status file seeded the shared status; moved aside" : "the shared status is the truth now; the status file is moved aside",
        { file: aside },
      );
    } catch (err) {
      this.o.logger.warn("could not move the status file aside", { file: this.o.file, err });
    }
  }

  private async fromFile(): Promise<Status | null> {
    if (!existsSync(this.o.file)) return null;
    try {
      const parsed = statusSchema.safeParse({ ...(await baseStatus(this.o.file, this.o.logger)), ...(await Bun.file(this.o.file).json()) });
      if (parsed.success) {
        this.o.logger.info("the shared status starts from the status file", { file: this.o.file });
        return parsed.data;
      }
    } catch {}
    return null;
  }

  /** What another process wrote is checked as a file would be: a status of the wrong shape is not used. */
  private parse(text: string): Status {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {}
    const parsed = statusSchema.safeParse(data);
    if (!parsed.success) {
      this.o.logger.error("the shared status is not a status; it is left as it is", { key: this.key });
      throw new StoreAwayError();
    }
    return parsed.data;
  }

  private seen(read: Versioned): void {
    const otherHistory = read.epoch !== this.epoch;
    if (!otherHistory && read.n < this.version) return; // an older read answered after a newer one
    if (otherHistory && this.epoch) this.o.logger.warn("the shared status went back (Redis lost writes or restarted empty)", { key: this.key });
    const newer = otherHistory || read.n > this.version;
    this.epoch = read.epoch;
    this.version = read.n;
    this.last = read.status;
    if (newer) for (const f of this.listeners) f(read.status);
  }
}
