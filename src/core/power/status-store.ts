import { rename, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import bundledBase from "../../../status/base.json" with { type: "json" };
import { removeStaleTemps, writeFileAtomic } from "../../lib/atomic-file.ts";
import { collectSoon } from "../../lib/gc.ts";
import { Mutex } from "../../lib/mutex.ts";
import type { Logger } from "../telemetry/logger.ts";
import { type Status, statusSchema } from "./status.ts";

export type { Status };

export type StatusChange = (current: Status) => Partial<Status> | undefined;
type Change = StatusChange;

/**
 * Where a machine's status lives: this file (one gateway), or the shared store (replicas, core/replica/).
 * `update` applies a change atomically, as if every change ran one after another.
 */
export interface StatusStorage {
  /** The status as last read or written, for readers that must not wait (metrics). */
  last?: Status;
  /** The status file: where it lives (one gateway), or what seeded the shared status (replicas). */
  readonly file: string;
  read(): Promise<Status>;
  /**
   * `leader`: a write only the machine's leader may make (its state, a wake's progress, a lease's expiry). Among
   * replicas it is refused, in the same atomic step, unless this process still holds the machine's lock, so a
   * deposed leader's late write never lands; one gateway always leads.
   */
  update(change: StatusChange, opts?: { leader?: boolean }): Promise<Status>;
  removeCrashLeftovers(): Promise<void>;
}

/** The status a machine starts from: base.json beside the status file if an operator put one there, else the shipped one. */
export async function baseStatus(statusFile: string, logger: Logger): Promise<Status> {
  const local = Bun.file(join(dirname(statusFile), "base.json"));
  try {
    if (await local.exists()) {
      const parsed = statusSchema.safeParse(await local.json());
      if (parsed.success) return parsed.data;
      logger.warn("base.json beside the status file is invalid; using the built-in defaults");
    }
  } catch {
    logger.warn("base.json beside the status file is unreadable; using the built-in defaults");
  }
  return statusSchema.parse(bundledBase);
}
interface Pending {
  change: Change;
  resolve: (status: Status) => void;
  reject: (err: unknown) => void;
}

export interface StatusStoreOptions {
  file: string;
  logger: Logger;
  now?: () => Date;
}

/**
 * The JSON status file. Every read-modify-write runs under one lock and every write is a rename of a
 * fully written temp file, so concurrent requests never lose an update and a crash never leaves half a file.
 */
export class StatusStore implements StatusStorage {
  private readonly lock = new Mutex();
  /** The status as last read or written, for readers that must not wait on the disk (metrics). */
  last?: Status;
  private readonly now: () => Date;

  constructor(private readonly opts: StatusStoreOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  get file(): string {
    return this.opts.file;
  }

  read(): Promise<Status> {
    return this.lock.run(() => this.load());
  }

  /** At startup: temp files a crash left between a write and its rename (of any file kept beside the status). */
  async removeCrashLeftovers(): Promise<void> {
    for (const name of await removeStaleTemps(dirname(this.opts.file))) {
      this.opts.logger.info("removed a temp file left by an earlier crash", { file: join(dirname(this.opts.file), name) });
    }
  }

  /**
   * Applies `change` to the current status and stores the result with a fresh `datetime`; resolves once
   * it is on disk, with the status as this change left it.
   */
  update(change: Change): Promise<Status> {
    return new Promise((resolve, reject) => {
      this.queued.push({ change, resolve, reject });
      if (this.queued.length === 1) void this.lock.run(() => this.commit());
    });
  }

  private queued: Pending[] = [];

  /**
   * Every change queued while the previous write was under way, in one write: each change sees the status
   * the one before it left, as if they had run one by one, and a change that throws fails alone. Fifty
   * clients taking leases at once cost one write, not fifty, which matters when the file holds a thousand.
   */
  private async commit(): Promise<void> {
    const batch = this.queued.splice(0);
    const applied: [Pending, Status][] = [];
    try {
      let current = await this.load();
      for (const item of batch) {
        try {
          current = { ...current, ...(item.change(current) ?? {}), datetime: this.now().toISOString() };
          applied.push([item, current]);
        } catch (err) {
          item.reject(err);
        }
      }
      if (applied.length) await this.write(current);
      this.last = current;
      for (const [item, status] of applied) item.resolve(status);
    } catch (err) {
      // Reading or writing the file failed: every change still waiting fails with it (settled ones ignore this).
      for (const item of batch) item.reject(err);
    }
  }

  private async load(): Promise<Status> {
    // Unchanged since our own last write: no need to read and check it again, which at a thousand
    // leases was most of the cost of every write. An operator's edit changes the stamp.
    const stamp = await stampOf(this.opts.file);
    if (this.last && stamp !== null && stamp === this.written) return this.last;
    const file = Bun.file(this.opts.file);
    if (!(await file.exists())) {
      const base = { ...(await this.base()), datetime: this.now().toISOString() };
      await this.write(base);
      return (this.last = base);
    }
    let text = "";
    try {
      text = await file.text();
      const data: unknown = JSON.parse(text);
      // Only an object can be a status: a string, a number or a list merged onto the base would pass unnoticed.
      const parsed = isObject(data) ? statusSchema.safeParse({ ...(await this.base()), ...data }) : null;
      if (parsed?.success) {
        this.written = stamp;
        return (this.last = parsed.data);
      }
    } catch {
      // Unreadable or not JSON: handled the same way as JSON of the wrong shape, below.
    }
    return this.recover();
  }

  /** Moves a corrupt file aside (kept for inspection) and starts again from base.json. */
  private async recover(): Promise<Status> {
    const aside = `${this.opts.file}.corrupt-${this.now().toISOString().replace(/[:.]/g, "-")}`;
    try {
      await rename(this.opts.file, aside);
    } catch (err) {
      this.opts.logger.error("could not move the corrupt status file aside", { file: this.opts.file, err });
    }
    this.opts.logger.warn("status file was corrupt; rebuilt it from base.json", { file: this.opts.file, moved_to: aside });
    const base = { ...(await this.base()), message: "status rebuilt after a corrupt status file", datetime: this.now().toISOString() };
    await this.write(base);
    return (this.last = base);
  }

  /** base.json beside the status file wins (an operator may edit it); the copy shipped with the code is the fallback. */
  private base(): Promise<Status> {
    return baseStatus(this.opts.file, this.opts.logger);
  }

  private written: string | null = null;

  private async write(status: Status): Promise<void> {
    this.written = null;
    const text = JSON.stringify(status, null, 2) + "\n";
    await writeFileAtomic(this.opts.file, text);
    this.written = await stampOf(this.opts.file);
    // Hundreds of leases make every write a string of 100 KB or more, and a burst of /arrancar a pile of them.
    if (text.length > LARGE_FILE) collectSoon();
  }
}

const LARGE_FILE = 64 * 1024;

/** Which file is there now: a rename makes a new inode, an edit a new time or size. */
async function stampOf(file: string): Promise<string | null> {
  const s = await stat(file).catch(() => null);
  return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : null;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
