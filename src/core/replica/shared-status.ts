// A machine's status (leases, permanent_on, the deferred shutdown, the power state and its times) in the shared
// store, for replicas: the same document as the status file, in one hash with a version. Every change is applied
// to the version it was computed from, or computed again: a compare-and-set script writes it only if nobody wrote
// in between, so changes made on several replicas at once are applied as if one after another, each exactly once.
import { existsSync } from "node:fs";
import { Mutex } from "../../lib/mutex.ts";
import { statusSchema } from "../power/status.ts";
import { baseStatus, type Status, type StatusChange, type StatusStorage } from "../power/status-store.ts";
import type { Logger } from "../telemetry/logger.ts";
import { type SharedStore, StoreAwayError } from "./store.ts";

// Written only when the version is still the one read; then every replica hears of the new version.
const CAS =
  "local v = redis.call('HGET', KEYS[1], 'v') or '0' " +
  "if v ~= ARGV[1] then return 0 end " +
  "local n = tonumber(v) + 1 redis.call('HSET', KEYS[1], 'v', n, 's', ARGV[2]) " +
  "redis.call('PUBLISH', KEYS[2], n) return n";

/** Past this many lost races in a row something is wrong; the change fails rather than spin. */
const MAX_ATTEMPTS = 50;

interface Pending {
  change: StatusChange;
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
}

export class SharedStatus implements StatusStorage {
  last?: Status;
  private version = 0;
  private readonly lock = new Mutex();
  private queued: Pending[] = [];
  private readonly key: string;
  private readonly channel: string;
  private readonly listeners: ((s: Status) => void)[] = [];

  constructor(private readonly o: SharedStatusOptions) {
    this.key = o.store.key("status", o.machine);
    this.channel = o.store.key("status-changed", o.machine);
    // Another replica wrote: those who follow the state (the monitor of a replica that does not lead) hear it at once.
    o.store.subscribe(`status-changed:${o.machine}`, (v) => {
      if (Number(v) > this.version) void this.read().catch(() => {});
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
    const [v, text] = (await this.o.store.send("HMGET", [this.key, "v", "s"])) as [string | null, string | null];
    if (v === null || text === null) return this.seed();
    const status = this.parse(text);
    this.seen(Number(v), status);
    return status;
  }

  update(change: StatusChange): Promise<Status> {
    return new Promise((resolve, reject) => {
      this.queued.push({ change, resolve, reject });
      if (this.queued.length === 1) void this.lock.run(() => this.commit());
    });
  }

  /** The changes queued meanwhile, in one write, as the file store does; computed again whole after a lost race. */
  private async commit(): Promise<void> {
    const batch = this.queued.splice(0);
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const before = await this.read();
        const from = this.version;
        let current = before;
        let changed = false;
        const outcomes: ({ ok: true; status: Status } | { ok: false; err: unknown })[] = [];
        for (const item of batch) {
          try {
            const change = item.change(current);
            if (!change) {
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
          const n = Number(await this.o.store.eval(CAS, [this.key, this.channel], [String(from), JSON.stringify(current)]));
          if (n === 0) continue; // another replica wrote since the read: compute again from what it wrote
          this.seen(n, current);
        }
        batch.forEach((item, i) => {
          const r = outcomes[i]!;
          if (r.ok) item.resolve(r.status);
          else item.reject(r.err);
        });
        return;
      }
      throw new StoreAwayError();
    } catch (err) {
      for (const item of batch) item.reject(err);
    }
  }

  /** The first replica to find no status writes one: the status file's, when there is one, else base.json. */
  private async seed(): Promise<Status> {
    const initial = (await this.fromFile()) ?? { ...(await baseStatus(this.o.file, this.o.logger)), datetime: this.o.now().toISOString() };
    await this.o.store.eval(CAS, [this.key, this.channel], ["0", JSON.stringify(initial)]);
    // Whoever won the race, the status is now there.
    const [v, text] = (await this.o.store.send("HMGET", [this.key, "v", "s"])) as [string | null, string | null];
    if (v === null || text === null) throw new StoreAwayError();
    const status = this.parse(text);
    this.seen(Number(v), status);
    return status;
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

  private seen(version: number, status: Status): void {
    if (version < this.version) return;
    const newer = version > this.version;
    this.version = version;
    this.last = status;
    if (newer) for (const f of this.listeners) f(status);
  }
}
