import { readFileSync } from "node:fs";
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

/**
 * Dashboard sessions: a random token in the browser's cookie, never the API key. Only the token's
 * SHA-256 is kept (in memory and in `file`), so neither a heap dump nor the file holds a usable token,
 * and a lookup by hash gives away nothing of the token through timing. The file lets sessions survive
 * a restart of the gateway; without it, the page simply asks for the key again.
 */
export class SessionStore {
  /** sha256(token) → when it expires (ms since the epoch) and when that was last written. */
  private readonly sessions = new Map<string, { expires: number; written: number }>();

  constructor(
    private readonly file: string | null,
    private readonly now: () => number = Date.now,
  ) {
    if (file) this.load(file);
  }

  /** A new session; returns the token for the cookie. */
  create(): string {
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    this.prune();
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const now = this.now();
    this.sessions.set(sha256(token), { expires: now + SESSION_TTL_S * 1000, written: now });
    this.save();
    return token;
  }

  /** Whether `token` is a live session; a valid one is extended (sliding expiry). */
  check(token: string | undefined): boolean {
    if (!token) return false;
    const hash = sha256(token);
    const s = this.sessions.get(hash);
    const now = this.now();
    if (!s) return false;
    if (s.expires <= now) {
      this.sessions.delete(hash);
      this.save();
      return false;
    }
    s.expires = now + SESSION_TTL_S * 1000;
    if (now - s.written >= TOUCH_EVERY_MS) {
      s.written = now;
      this.save();
    }
    return true;
  }

  end(token: string | undefined): void {
    if (token && this.sessions.delete(sha256(token))) this.save();
  }

  get size(): number {
    return this.sessions.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [hash, s] of this.sessions) if (s.expires <= now) this.sessions.delete(hash);
  }

  private load(file: string): void {
    try {
      const data = JSON.parse(readFileSync(file, "utf8")) as { sessions?: Record<string, number> };
      const now = this.now();
      for (const [hash, expires] of Object.entries(data.sessions ?? {})) {
        if (/^[0-9a-f]{64}$/.test(hash) && typeof expires === "number" && expires > now) this.sessions.set(hash, { expires, written: now });
      }
    } catch {
      // No file yet, or an unreadable one: nobody is logged in, and the next login writes a good file.
    }
  }

  /** Resolves once every change so far is on disk. */
  flushed(): Promise<void> {
    return this.writes.run(() => {});
  }

  private readonly writes = new Mutex();

  /** In the background, one write after another: the last one holds every change. */
  private save(): void {
    const file = this.file;
    if (!file) return;
    const sessions = Object.fromEntries([...this.sessions].map(([hash, s]) => [hash, s.expires]));
    void this.writes.run(() => writeJsonAtomic(file, { sessions })).catch(() => {});
  }
}

/**
 * Wrong keys per client address in the last minute. The count is kept per address with the minute it
 * started; addresses are forgotten when their minute is over, so a scan of many addresses stays bounded.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { since: number; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Whether this address may try again now. */
  allowed(address: string): boolean {
    const f = this.failures.get(address);
    return !f || this.now() - f.since >= 60_000 || f.count < LOGIN_ATTEMPTS_PER_MIN;
  }

  failed(address: string): void {
    const now = this.now();
    if (this.failures.size > 10_000) for (const [a, f] of this.failures) if (now - f.since >= 60_000) this.failures.delete(a);
    const f = this.failures.get(address);
    if (!f || now - f.since >= 60_000) this.failures.set(address, { since: now, count: 1 });
    else f.count++;
  }

  /** Seconds until this address may try again. */
  retryAfterS(address: string): number {
    const f = this.failures.get(address);
    return f ? Math.max(1, Math.ceil((f.since + 60_000 - this.now()) / 1000)) : 0;
  }
}
