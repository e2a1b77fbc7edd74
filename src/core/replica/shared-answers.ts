// One machine's remembered Ollama answers (its model list, its version) in the shared store (issue 27), so a
// replica that never saw the machine awake answers /api/tags from what another saw (metadata-cache.ts keeps
// its own copy, served while the store is away). One hash per machine: per answer its text, when it was saved
// and its version (a hash of the text), so a replica that holds the same answer reads a few bytes, not the list.
import type { CachedAnswer, SharedAnswer, SharedAnswers } from "../machine/metadata-cache.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { SharedStore } from "./store.ts";

/** An answer larger than this is not shared (a list of a thousand models is well under it): it stays local. */
export const MAX_SHARED_ANSWER_BYTES = 1024 * 1024;
/** A machine asleep that long still has its list in each replica's file; a machine renamed leaves nothing behind. */
const KEEP_MS = 30 * 24 * 3600_000;
const CHANNEL = "answers";
const MAX_KEY_CHARS = 256;

// ARGV: the answer's key, the version held, the largest text read. Nothing: false; the same version, or one too
// large to read: {v} (the replica keeps what it has).
const READ =
  "local v = redis.call('HGET', KEYS[1], ARGV[1] .. '#v') if not v then return false end " +
  "if v == ARGV[2] or redis.call('HSTRLEN', KEYS[1], ARGV[1]) > tonumber(ARGV[3]) then return {v} end " +
  "return {v, redis.call('HGET', KEYS[1], ARGV[1] .. '@at'), redis.call('HGET', KEYS[1], ARGV[1])}";
// ARGV: key, text, saved_at, version, ttl, channel, message. Written and told in one step.
const WRITE =
  "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. '@at', ARGV[3], ARGV[1] .. '#v', ARGV[4]) " +
  "redis.call('PEXPIRE', KEYS[1], ARGV[5]) redis.call('PUBLISH', ARGV[6], ARGV[7]) return 1";

export interface SharedMetadataOptions {
  store: Pick<SharedStore, "eval" | "key" | "subscribe" | "onReconnect">;
  machine: string;
  logger: Logger;
  maxBytes?: number;
}

export class SharedMetadata implements SharedAnswers {
  /** This process: the news of its own writes, back from the channel, is not news. */
  private readonly origin = crypto.randomUUID();
  private readonly hash: string;
  private readonly maxBytes: number;

  constructor(private readonly o: SharedMetadataOptions) {
    this.hash = o.store.key("answers", o.machine);
    this.maxBytes = o.maxBytes ?? MAX_SHARED_ANSWER_BYTES;
  }

  async read(key: string, have: string | undefined): Promise<SharedAnswer | null> {
    const out = (await this.o.store.eval(READ, [this.hash], [key, have ?? "", this.maxBytes])) as unknown[] | null;
    if (!Array.isArray(out) || typeof out[0] !== "string") return null;
    const version = out[0];
    if (out.length === 1) return { version };
    const [, savedAt, text] = out;
    return typeof text === "string" ? { version, saved_at: typeof savedAt === "string" ? savedAt : "", text } : null;
  }

  async write(key: string, entry: CachedAnswer, text: string, version: string): Promise<boolean> {
    if (Buffer.byteLength(text) > this.maxBytes) {
      // Once per answer that changed: the cache writes only answers that differ from the last.
      this.o.logger.warn("a metadata answer is too large to share between the replicas; it stays on this one", {
        machine: this.o.machine,
        key,
        bytes: Buffer.byteLength(text),
      });
      return false;
    }
    const told = JSON.stringify({ o: this.origin, m: this.o.machine, k: key });
    await this.o.store.eval(WRITE, [this.hash], [key, text, entry.saved_at, version, KEEP_MS, this.o.store.key(CHANNEL), told]);
    return true;
  }

  onChange(f: (key: string | null) => void): void {
    this.o.store.subscribe(CHANNEL, (message) => {
      const key = this.keyOf(message);
      if (key !== null) f(key);
    });
    // Whatever was missed while the store was away (or before this replica started) is read again.
    this.o.store.onReconnect(() => f(null));
  }

  /** The key of another process's message about this machine, or null (ours, another machine's, not such a message). */
  private keyOf(message: string): string | null {
    try {
      const m = JSON.parse(message) as { o?: unknown; m?: unknown; k?: unknown };
      if (m?.o === this.origin || m?.m !== this.o.machine) return null;
      return typeof m.k === "string" && m.k.length <= MAX_KEY_CHARS ? m.k : null;
    } catch {
      return null;
    }
  }
}
