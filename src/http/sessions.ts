import { readFileSync } from "node:fs";
import type { Logger } from "../core/telemetry/logger.ts";
import { writeJsonAtomic } from "../lib/atomic-file.ts";
import { Mutex } from "../lib/mutex.ts";

/** The cookie that holds a dashboard session token. */
export const SESSION_COOKIE = "og_session";
/** How long a dashboard session lives without being used; each use pushes it back (sliding expiry). */
export const SESSION_TTL_S = 30 * 24 * 3600;
/** Wrong keys one client address may try per minute on the login form before it gets a 429. */
export const LOGIN_ATTEMPTS_PER_MIN = 10;
/** The most sessions kept at once: logging in again and again must not grow memory or the file without bound. */
const MAX_SESSIONS = 1000;
/** A session's expiry is rewritten to disk at most this often: using the page must not mean a write per request. */
const TOUCH_EVERY_MS = 24 * 3600 * 1000;

const sha256 = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex");

interface Session {
  expires: number;
  /** When the expiry was last written to the file. */
  written: number;
  /** Which key opened it (a salted hash): a session ends with its key. */
  key: string;
}

export interface SessionStoreOptions {
  /** Where sessions are kept across restarts; null: in memory only. */
  file: string | null;
  /** The identities (sha256 of each key) that may log in now: a session whose key is no longer among them is over. */
  keys: () => readonly string[];
  logger?: Logger;
  now?: () => number;
}

/**
 * Dashboard sessions: a random token in the browser's cookie, never the API key. Only the token's
 * SHA-256 is kept (in memory and in the file), so neither a heap dump nor the file holds a usable token,
 * and a lookup by hash gives away nothing of the token through timing. Each session remembers a salted
 * hash of the key that opened it: taking a key out of the configuration ends its sessions, at the next
 * restart or reload. The file lets sessions survive a restart; without it, the page asks for the key again.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private salt = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
  private readonly now: () => number;
  private readonly writes = new Mutex();
  private liveKeys: { keys: readonly string[]; hashes: Map<string, string> } | null = null;

  constructor(private readonly opts: SessionStoreOptions) {
    this.now = opts.now ?? Date.now;
    if (opts.file) this.load(opts.file);
  }

  /** A new session opened with the key of this identity; returns the token for the cookie. */
  create(key: string): string {
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    this.prune();
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const now = this.now();
    this.sessions.set(sha256(token), { expires: now + SESSION_TTL_S * 1000, written: now, key: this.keyHash(key) });
    this.save();
    return token;
  }

  /**
   * The identity of the key that opened `token`'s session, if the session is live and its key still
   * configured (null otherwise); a valid one is extended (sliding expiry).
   */
  check(token: string | undefined): string | null {
    if (!token) return null;
    const hash = sha256(token);
    const s = this.sessions.get(hash);
    if (!s) return null;
    const now = this.now();
    const identity = this.keyHashes().get(s.key);
    if (s.expires <= now || identity === undefined) {
      this.sessions.delete(hash);
      this.save();
      return null;
    }
    s.expires = now + SESSION_TTL_S * 1000;
    if (now - s.written >= TOUCH_EVERY_MS) {
      s.written = now;
      this.save();
    }
    return identity;
  }

  end(token: string | undefined): void {
    if (token && this.sessions.delete(sha256(token))) this.save();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Resolves once every change so far is on disk. */
  flushed(): Promise<void> {
    return this.writes.run(() => {});
  }

  private keyHash(key: string): string {
    return sha256(`${this.salt}:${key}`);
  }

  /** Salted hash → identity, for the keys configured now. */
  private keyHashes(): Map<string, string> {
    const keys = this.opts.keys();
    if (this.liveKeys?.keys !== keys) this.liveKeys = { keys, hashes: new Map(keys.map((k) => [this.keyHash(k), k])) };
    return this.liveKeys.hashes;
  }

  private prune(): void {
    const now = this.now();
    for (const [hash, s] of this.sessions) if (s.expires <= now) this.sessions.delete(hash);
  }

  private load(file: string): void {
    let data: { salt?: unknown; sessions?: Record<string, { expires?: unknown; key?: unknown }> };
    try {
      data = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      // No file yet is the usual case; an unreadable one means everybody logs in again, and the next login rewrites it.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        this.opts.logger?.warn("sessions file unreadable; dashboard sessions start empty", { file });
      return;
    }
    if (typeof data.salt === "string" && /^[0-9a-f]{32}$/.test(data.salt)) this.salt = data.salt;
    const now = this.now();
    for (const [hash, s] of Object.entries(data.sessions ?? {})) {
      if (!/^[0-9a-f]{64}$/.test(hash) || typeof s?.expires !== "number" || typeof s.key !== "string" || s.expires <= now) continue;
      this.sessions.set(hash, { expires: s.expires, written: now, key: s.key });
    }
  }

  /** In the background, one write after another: the last one holds every change. */
  private save(): void {
    const file = this.opts.file;
    if (!file) return;
    const sessions = Object.fromEntries([...this.sessions].map(([hash, s]) => [hash, { expires: s.expires, key: s.key }]));
    void this.writes
      .run(() => writeJsonAtomic(file, { salt: this.salt, sessions }))
      .catch((err) => this.opts.logger?.warn("could not save the dashboard sessions; a restart will forget changes since", { file, err }));
  }
}

/** Addresses the throttle remembers at most: the oldest are forgotten first. */
const MAX_ADDRESSES = 10_000;

/**
 * Wrong keys per client address in the last minute. The map is kept in the order each address's minute
 * began, so forgetting the expired (and, at the cap, the oldest) is a walk from the front that stops at
 * the first live one. IPv6 addresses count per /64: one host usually holds a whole /64.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { since: number; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Whether this address may try again now. */
  allowed(address: string): boolean {
    const f = this.failures.get(clientOf(address));
    return !f || this.now() - f.since >= 60_000 || f.count < LOGIN_ATTEMPTS_PER_MIN;
  }

  failed(address: string): void {
    const client = clientOf(address);
    const now = this.now();
    for (const [a, f] of this.failures) {
      if (now - f.since < 60_000 && this.failures.size < MAX_ADDRESSES) break;
      this.failures.delete(a);
    }
    const f = this.failures.get(client);
    if (f && now - f.since < 60_000) f.count++;
    else {
      this.failures.delete(client); // re-inserted at the back: the map stays in order of age
      this.failures.set(client, { since: now, count: 1 });
    }
  }

  /** Seconds until this address may try again. */
  retryAfterS(address: string): number {
    const f = this.failures.get(clientOf(address));
    return f ? Math.max(1, Math.ceil((f.since + 60_000 - this.now()) / 1000)) : 0;
  }

  get size(): number {
    return this.failures.size;
  }
}

/** The address as the throttle counts it: IPv4 as it is, IPv6 by its first 64 bits. */
export function clientOf(address: string): string {
  if (!address.includes(":") || /^::ffff:\d/i.test(address)) return address;
  const [head = "", tail] = address.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).join(":")}::/64`;
}
