// The dashboard's sessions shared by replicas (core/access/shared-sessions.ts), against a real redis-server on
// loopback, each replica a SharedStore of its own: a session opened on one is checked, pushed back and ended on
// the other; a reload's endRevoked on one is seen by the other; expiry on a clock the test moves; the two caps as
// the file store keeps them; only hashes in Redis; a frozen Redis is StoreAwayError, and a thawed one works again.
import { describe, expect, test } from "bun:test";
import { MAX_SESSIONS, MAX_SESSIONS_PER_KEY, SESSION_TTL_S, tokenHash } from "../../../src/core/access/sessions.ts";
import { SharedSessions } from "../../../src/core/access/shared-sessions.ts";
import { SharedStore, StoreAwayError } from "../../../src/core/replica/store.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { tempDir } from "../../helpers.ts";
import { hasRedis, REDIS_SERVER, redisForTests, startRedis } from "../../redis.ts";

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;
const DAY_MS = 24 * 3600 * 1000;
const ALICE = "a".repeat(64); // identities are the keys' SHA-256
const BOB = "b".repeat(64);

describe.skipIf(Boolean(SKIP))(SKIP ? `shared sessions (skipped: ${SKIP})` : "shared sessions", () => {
  const shared = redisForTests(300);
  const { ends, store } = shared;

  /** Two replicas on one prefix and one clock; each with the identities it knows (a reload reaches them one by one). */
  async function replicas(prefix: string, known: { a: string[]; b: string[] } = { a: [ALICE, BOB], b: [ALICE, BOB] }) {
    const clock = { t: Date.parse("2026-12-07T10:00:00Z") };
    const now = () => clock.t;
    const [sa, sb] = [await store(prefix), await store(prefix)];
    const logger = memoryLogger();
    const a = new SharedSessions({ store: sa, keys: () => known.a, now, logger });
    const b = new SharedSessions({ store: sb, keys: () => known.b, now });
    return { a, b, clock, known, store: sa, logger };
  }

  test("opened on one replica, it opens the other; ended on the other, it is over on the first", async () => {
    const { a, b } = await replicas("open:");
    const token = await a.open(ALICE);
    expect(await b.check(token)).toBe(ALICE);
    expect(await a.check(token)).toBe(ALICE);
    expect(await b.check("not-a-session")).toBeNull();
    expect(await b.check(undefined)).toBeNull();
    await b.end(token);
    expect(await a.check(token)).toBeNull();
    expect(await b.check(token)).toBeNull();
  });

  test("Redis holds the tokens' and the keys' hashes, never a token or an identity", async () => {
    const { a, store } = await replicas("hashes:");
    const tokens = [await a.open(ALICE), await a.open(BOB)];
    const keys = (await store.send("KEYS", ["hashes:*"])) as string[];
    let dump = keys.join(" ");
    const read: Record<string, [string, string[]]> = { string: ["GET", []], zset: ["ZRANGE", ["0", "-1", "WITHSCORES"]], hash: ["HGETALL", []] };
    for (const k of keys) {
      const [command, args] = read[String(await store.send("TYPE", [k]))]!;
      dump += ` ${JSON.stringify(await store.send(command, [k, ...args]))}`;
    }
    for (const secret of [...tokens, ALICE, BOB]) expect(dump).not.toContain(secret);
    expect(dump).toContain(tokenHash(tokens[0]!));
  });

  test("it expires after SESSION_TTL_S unused; each use pushes the end back, written at most once a day", async () => {
    const { a, b, clock } = await replicas("expiry:");
    const used = await a.open(ALICE);
    const idle = await a.open(ALICE);
    const opened = clock.t;
    clock.t = opened + 2 * DAY_MS;
    expect(await b.check(used)).toBe(ALICE); // pushed back to day 2 + TTL
    clock.t = opened + 2.5 * DAY_MS;
    expect(await a.check(used)).toBe(ALICE); // within a day of that write: not pushed again
    clock.t = opened + SESSION_TTL_S * 1000;
    expect(await a.check(idle)).toBeNull(); // the unused one is over, and gone
    expect(await b.check(idle)).toBeNull();
    clock.t = opened + 2 * DAY_MS + SESSION_TTL_S * 1000 + 1;
    expect(await a.check(used)).toBeNull();
  });

  test("a reload's endRevoked on one replica ends them for all; a key one replica does not know is refused there, not ended", async () => {
    const { a, b, known, logger } = await replicas("revoked:");
    const [alice, bob] = [await a.open(ALICE), await a.open(BOB)];
    known.b = [ALICE]; // b has reloaded a KEYS_FILE without bob; a has not yet
    expect(await b.check(bob)).toBeNull();
    expect(await a.check(bob)).toBe(BOB);
    known.a = [ALICE, BOB];
    // a's reload: bob's key is kept but refused the dashboard (a demotion).
    expect(await a.endRevoked((id) => id !== BOB)).toBe(1);
    expect(logger.lines.some((l) => l.includes("dashboard sessions ended"))).toBe(true);
    expect(await a.check(bob)).toBeNull();
    expect(await b.check(alice)).toBe(ALICE);
  });

  test(`at most ${MAX_SESSIONS_PER_KEY} per key (its oldest ends) and ${MAX_SESSIONS} in all (the key holding the most loses its oldest)`, async () => {
    const { a, b, store } = await replicas("caps:");
    const many = (await Promise.all(Array.from({ length: MAX_SESSIONS_PER_KEY + 1 }, (_, i) => (i % 2 ? a : b).open(ALICE)))) as string[];
    const live = await Promise.all(many.map((t) => a.check(t)));
    expect(live.filter((id) => id === ALICE)).toHaveLength(MAX_SESSIONS_PER_KEY);
    // The rest of the global cap, one session per other key (identities of keys a and b do not know: stored all the same).
    const others = MAX_SESSIONS - MAX_SESSIONS_PER_KEY;
    for (let i = 0; i < others; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, others - i) }, (_, j) => a.open(`other-${i + j}`)));
    }
    expect(Number(await store.send("ZCARD", ["caps:sessions:expiry"]))).toBe(MAX_SESSIONS);
    const before = await Promise.all(many.map((t) => a.check(t)));
    await b.open(BOB);
    expect(Number(await store.send("ZCARD", ["caps:sessions:expiry"]))).toBe(MAX_SESSIONS);
    const after = await Promise.all(many.map((t) => a.check(t)));
    // Alice held the most: exactly one of hers ended, the oldest still open.
    expect(after.filter((id) => id === ALICE)).toHaveLength(before.filter((id) => id === ALICE).length - 1);
    expect(Number(await store.send("HLEN", ["caps:sessions:key"]))).toBe(MAX_SESSIONS);
  });

  test("a frozen Redis: open, check and end fail with StoreAwayError; thawed, they work again without a restart", async () => {
    const { dir, cleanup } = tempDir("ollama-gate-redis-");
    ends.push(cleanup);
    const own = await startRedis(dir);
    ends.push(() => own.stop());
    const s = new SharedStore({ url: own.url, prefix: "frozen:", logger: memoryLogger(), commandTimeoutMs: 300 });
    s.start();
    ends.push(() => s.stop());
    await s.ready();
    const sessions = new SharedSessions({ store: s, keys: () => [ALICE] });
    const token = await sessions.open(ALICE);
    own.freeze();
    try {
      await expect(sessions.check(token)).rejects.toBeInstanceOf(StoreAwayError);
      await expect(sessions.open(ALICE)).rejects.toBeInstanceOf(StoreAwayError);
      await expect(sessions.end(token)).rejects.toBeInstanceOf(StoreAwayError);
    } finally {
      own.thaw();
    }
    await s.ready();
    expect(await sessions.check(token)).toBe(ALICE);
  });
});
