import { readFileSync } from "node:fs";
import { writeJsonAtomic } from "../../lib/atomic-file.ts";
import { LatestWrite } from "../../lib/latest-write.ts";
import type { Logger } from "../telemetry/logger.ts";

/** The cookie that holds a dashboard session token. */
export const SESSION_COOKIE = "og_session";
/** How long a dashboard session lives without being used; each use pushes it back (sliding expiry). */
export const SESSION_TTL_S = 30 * 24 * 3600;
/** The most sessions kept at once: logging in again and again must not grow memory or the file without bound. */
export const MAX_SESSIONS = 1000;
/** The most sessions one key holds (a few browsers and devices each): a new one ends that key's oldest. */
export const MAX_SESSIONS_PER_KEY = 20;
/** A session's expiry is rewritten to disk at most this often: using the page must not mean a write per request. */
export const TOUCH_EVERY_MS = 24 * 3600 * 1000;

const sha256 = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex");
const random = (bytes: number, encoding: "hex" | "base64url") => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString(encoding);

/** A session is kept under its token's SHA-256, never the token: a store's copy opens nothing. */
export const tokenHash = (token: string) => sha256(token);
/** The key that opened a session, as it is kept: a salted hash of its identity. */
export const keyHashOf = (salt: string, identity: string) => sha256(`${salt}:${identity}`);
/** A new session's token: 256 random bits, out of any guesser's reach. */
export const newToken = () => random(32, "base64url");
/** A new salt for the key hashes. */
export const newSalt = () => random(16, "hex");

/**
 * The dashboard's sessions: one gateway's, in memory and a file (SessionStore), or the replicas', shared through
 * Redis (shared-sessions.ts), whose answers are promises that fail with StoreAwayError while the store is away.
 */
export interface DashboardSessions {
  /** A new session of the key of this identity; resolves with the cookie's token once the session is stored. */
  open(identity: string): Promise<string>;
  /** The identity of a live session's key, its expiry pushed back; null: no such session, or its key is gone. */
  check(token: string | undefined): string | null | Promise<string | null>;
  end(token: string | undefined): void | Promise<void>;
  /** Ends every session whose key is gone or refused by `keep` now (after a reload); how many ended. */
  endRevoked(keep: (identity: string) => boolean): number | Promise<number>;
  /** Resolves once every change so far is stored. */
  flushed(): Promise<void>;
  /** How many sessions there are, where that is known without asking (one gateway's). */
  readonly size?: number;
}

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
export class SessionStore implements DashboardSessions {
  /** In the order they were opened: the first of a key's is its oldest. */
  private readonly sessions = new Map<string, Session>();
  /** Each key's sessions (salted key hash → token hashes, oldest first), to cap them per key. */
  private readonly byKey = new Map<string, Set<string>>();
  private salt = newSalt();
  private readonly now: () => number;
  private readonly writes = new LatestWrite(() => this.write());
  private liveKeys: { keys: readonly string[]; hashes: Map<string, string> } | null = null;

  constructor(private readonly opts: SessionStoreOptions) {
    this.now = opts.now ?? Date.now;
    if (opts.file) this.load(opts.file);
  }

  /**
   * A new session opened with the key of this identity; resolves with the token for the cookie once the
   * session is on disk (a burst of logins shares one write), so a session the browser was given survives
   * a crash. Rejects when it could not be stored; the session is then over.
   */
  async open(key: string): Promise<string> {
    const token = this.create(key);
    try {
      await this.writes.request();
    } catch (err) {
      this.end(token);
      throw err;
    }
    return token;
  }

  /** A new session, saved in the background: only open() acknowledges one, once it is on disk. */
  private create(key: string): string {
    const token = newToken();
    this.prune();
    const now = this.now();
    this.add(tokenHash(token), { expires: now + SESSION_TTL_S * 1000, written: now, key: this.keyHash(key) });
    this.save();
    return token;
  }

  /**
   * Keeps a session within both caps. A key at its own cap loses its oldest session; at the global cap,
   * the key holding the most sessions loses its oldest: one key logging in again and again only ever
   * ends its own sessions, never another key's.
   */
  private add(hash: string, session: Session): void {
    let mine = this.byKey.get(session.key);
    if (!mine) this.byKey.set(session.key, (mine = new Set()));
    if (mine.size >= MAX_SESSIONS_PER_KEY) this.drop(mine.values().next().value!);
    if (this.sessions.size >= MAX_SESSIONS) {
      let most = mine;
      for (const set of this.byKey.values()) if (set.size > most.size) most = set;
      this.drop(most.values().next().value!);
    }
    this.sessions.set(hash, session);
    this.byKey.set(session.key, mine.add(hash)); // again: dropping its last session above took the set out
  }

  private drop(hash: string): boolean {
    const s = this.sessions.get(hash);
    if (!s) return false;
    this.sessions.delete(hash);
    const mine = this.byKey.get(s.key);
    mine?.delete(hash);
    if (mine?.size === 0) this.byKey.delete(s.key);
    return true;
  }

  /**
   * The identity of the key that opened `token`'s session, if the session is live and its key still
   * configured (null otherwise); a valid one is extended (sliding expiry).
   */
  check(token: string | undefined): string | null {
    if (!token) return null;
    const hash = tokenHash(token);
    const s = this.sessions.get(hash);
    if (!s) return null;
    const now = this.now();
    const identity = this.keyHashes().get(s.key);
    if (s.expires <= now || identity === undefined) {
      this.drop(hash);
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
    if (token && this.drop(tokenHash(token))) this.save();
  }

  /**
   * Ends at once every session whose key is no longer configured, or whose key `keep` refuses now (after a
   * reload: a key demoted to a role without the dashboard). One write for all of them.
   */
  endRevoked(keep: (identity: string) => boolean): number {
    const live = this.keyHashes();
    let ended = 0;
    for (const [hash, s] of [...this.sessions]) {
      const identity = live.get(s.key);
      if (identity === undefined || !keep(identity)) ended += this.drop(hash) ? 1 : 0;
    }
    if (ended > 0) {
      this.save();
      this.opts.logger?.info("dashboard sessions ended: their key is gone or may no longer use the dashboard", { sessions: ended });
    }
    return ended;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Resolves once every change so far is on disk (or its write failed). */
  flushed(): Promise<void> {
    return this.writes.settled();
  }

  private keyHash(key: string): string {
    return keyHashOf(this.salt, key);
  }

  /** Salted hash → identity, for the keys configured now. */
  private keyHashes(): Map<string, string> {
    const keys = this.opts.keys();
    if (this.liveKeys?.keys !== keys) this.liveKeys = { keys, hashes: new Map(keys.map((k) => [this.keyHash(k), k])) };
    return this.liveKeys.hashes;
  }

  private prune(): void {
    const now = this.now();
    for (const [hash, s] of this.sessions) if (s.expires <= now) this.drop(hash);
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
      this.add(hash, { expires: s.expires, written: now, key: s.key });
    }
  }

  /** In the background; the write that stores this change may hold later ones too. */
  private save(): void {
    this.writes.request().catch(() => {}); // write() has said why
  }

  /** The sessions as they are when the write starts: only the latest state is ever written. */
  private async write(): Promise<void> {
    const file = this.opts.file;
    if (!file) return;
    const sessions = Object.fromEntries([...this.sessions].map(([hash, s]) => [hash, { expires: s.expires, key: s.key }]));
    try {
      await writeJsonAtomic(file, { salt: this.salt, sessions });
    } catch (err) {
      this.opts.logger?.warn("could not save the dashboard sessions; a restart will forget changes since", { file, err });
      throw err;
    }
  }
}
