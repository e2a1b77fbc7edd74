// Per-minute limits on what one client address (or one key) may try: wrong keys on any route, logins.
import type { Context } from "hono";
import type { ServerLike } from "./server.ts";

/** Wrong keys one client address may send per minute (login form, headers, /k/ paths, cookies) before it gets a 429. */
export const LOGIN_ATTEMPTS_PER_MIN = 10;
/** Successful logins per minute with one key, and from one address: each opens a session that is written to disk. */
export const LOGINS_PER_KEY_PER_MIN = 10;
export const LOGINS_PER_ADDRESS_PER_MIN = 30;
/** Names a limit remembers at most: the oldest are forgotten first. */
export const MAX_NAMES = 10_000;
export const MINUTE_MS = 60_000;

/**
 * The wrong-key limit as the routes use it: one gateway's (LoginThrottle) or the replicas', shared through Redis
 * (shared-throttle.ts), whose answers may be promises that fail with StoreAwayError while the store is away.
 */
export interface GuessLimit {
  /**
   * A key tried from `address`: `identity` is the key's when it is valid, undefined for a wrong one. Past the
   * limit, the seconds to wait (nothing counted); else 0, and the try counted (a failure, or a key that worked).
   */
  attempt(address: string, identity?: string): number | Promise<number>;
  /** Addresses counted, where that is known without asking (one gateway's). */
  readonly size?: number;
}

/** The limit on successful logins, one gateway's (LoginRate) or the replicas' (shared-throttle.ts). */
export interface LoginLimit {
  /** A login with the key of `identity` from `address`: the seconds to wait (nothing counted), or 0 and counted. */
  login(identity: string, address: string): number | Promise<number>;
}

/**
 * At most `limit` events per name in a minute (from the first of them). The map is kept in the order each
 * name's minute began, so forgetting the expired (and, at the cap, the oldest) is a walk from the front
 * that stops at the first live one.
 */
export class PerMinute {
  private readonly seen = new Map<string, { since: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {}

  allowed(name: string): boolean {
    const f = this.seen.get(name);
    return !f || this.now() - f.since >= MINUTE_MS || f.count < this.limit;
  }

  count(name: string): void {
    const now = this.now();
    for (const [n, f] of this.seen) {
      if (now - f.since < MINUTE_MS && this.seen.size < MAX_NAMES) break;
      this.seen.delete(n);
    }
    const f = this.seen.get(name);
    if (f && now - f.since < MINUTE_MS) f.count++;
    else {
      this.seen.delete(name); // re-inserted at the back: the map stays in order of age
      this.seen.set(name, { since: now, count: 1 });
    }
  }

  /** Seconds until this name may try again (0: now). */
  retryAfterS(name: string): number {
    if (this.allowed(name)) return 0;
    const f = this.seen.get(name)!;
    return Math.max(1, Math.ceil((f.since + MINUTE_MS - this.now()) / 1000));
  }

  get size(): number {
    return this.seen.size;
  }
}

/**
 * Wrong keys per client address in the last minute, whichever the route and however the key came.
 * IPv6 addresses count per /64: one host usually holds a whole /64.
 *
 * Past the limit an address's keys are refused — all but those that already worked from it. Many clients
 * can share one address (everyone behind Traefik, every app on one host): one of them left with a revoked key
 * must not lock the others out, and a guesser learns nothing from that exception, since a key that worked
 * from the address is one it would have to guess first.
 */
export class LoginThrottle implements GuessLimit {
  private readonly failures: PerMinute;
  /** "address identity" → when that key last worked from that address; oldest first, at most MAX_NAMES. */
  private readonly known = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {
    this.failures = new PerMinute(LOGIN_ATTEMPTS_PER_MIN, now);
  }

  /** Whether this address may try a key now: under the limit, or with a key (its identity) that worked from it. */
  allowed(address: string, identity?: string): boolean {
    const client = clientOf(address);
    if (this.failures.allowed(client)) return true;
    const seen = identity === undefined ? undefined : this.known.get(`${client} ${identity}`);
    return seen !== undefined && this.now() - seen < KNOWN_FOR_MS;
  }

  attempt(address: string, identity?: string): number {
    if (!this.allowed(address, identity)) return this.retryAfterS(address);
    if (identity === undefined) this.failed(address);
    else this.worked(address, identity);
    return 0;
  }

  failed(address: string): void {
    this.failures.count(clientOf(address));
  }

  /** The key of `identity` worked from this address (remembered again at most once a minute: no write per request). */
  worked(address: string, identity: string): void {
    const name = `${clientOf(address)} ${identity}`;
    const now = this.now();
    const seen = this.known.get(name);
    if (seen !== undefined && now - seen < MINUTE_MS) return;
    this.known.delete(name); // re-inserted at the back: the map stays in order of age
    this.known.set(name, now);
    for (const [n, at] of this.known) {
      if (now - at < KNOWN_FOR_MS && this.known.size <= MAX_NAMES) break;
      this.known.delete(n);
    }
  }

  /** Seconds until this address may try again. */
  retryAfterS(address: string): number {
    return this.failures.retryAfterS(clientOf(address));
  }

  get size(): number {
    return this.failures.size;
  }

  /** How many (address, key) pairs are remembered as having worked. */
  get knownPairs(): number {
    return this.known.size;
  }
}

/** How long a key that worked from an address stays exempt there from that address's wrong-key limit. */
export const KNOWN_FOR_MS = 24 * 3600 * 1000;

/**
 * Successful logins, per key and per address: each one opens a session, and a valid key logging in
 * again and again must neither fill the disk's write queue nor push other people's sessions out.
 */
export class LoginRate implements LoginLimit {
  private readonly byKey: PerMinute;
  private readonly byAddress: PerMinute;

  constructor(now: () => number = Date.now) {
    this.byKey = new PerMinute(LOGINS_PER_KEY_PER_MIN, now);
    this.byAddress = new PerMinute(LOGINS_PER_ADDRESS_PER_MIN, now);
  }

  /** Seconds until this key may log in again from this address (0: now). */
  retryAfterS(identity: string, address: string): number {
    return Math.max(this.byKey.retryAfterS(identity), this.byAddress.retryAfterS(clientOf(address)));
  }

  login(identity: string, address: string): number {
    const wait = this.retryAfterS(identity, address);
    if (wait === 0) this.loggedIn(identity, address);
    return wait;
  }

  loggedIn(identity: string, address: string): void {
    this.byKey.count(identity);
    this.byAddress.count(clientOf(address));
  }
}

/** The address as the throttles count it: IPv4 as it is, IPv6 by its first 64 bits. */
export function clientOf(address: string): string {
  if (!address.includes(":") || /^::ffff:\d/i.test(address)) return address;
  const [head = "", tail] = address.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).join(":")}::/64`;
}

/** The address the request came from (Traefik's address when behind it: the count is then shared). */
export function clientAddress(c: Context): string {
  return addressOf(c.env as ServerLike | undefined, c.get("serverRequest") ?? c.req.raw);
}

/** The same without Hono: `req` must be the server's own Request. */
export const addressOf = (server: ServerLike | undefined, req: Request): string => server?.requestIP?.(req)?.address ?? "unknown";
