// Lease arithmetic on a Status object: pure, no store, no clock (every `now` is passed in).
import { describe, expect, test } from "bun:test";
import { expireLeases, type Lease, leaseCapReached, leasesOf, releaseLease, takeLease } from "../../../src/core/power/leases.ts";
import type { Status } from "../../../src/core/power/status-store.ts";

const T0 = Date.parse("2025-01-15T10:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

/** A status with the fields statusSchema requires; `leases` sets the count unless it is given. */
function status(over: Partial<Status> = {}): Status {
  return {
    logical_on: false,
    phisical_on: false,
    permanent_on: false,
    message: "test",
    datetime: iso(T0),
    peticions_ollama: over.leases?.length ?? 0,
    ...over,
  };
}

const lease = (id: string, expiresAt: number | null, holder: string | null = null): Lease => ({
  id,
  holder,
  taken_at: iso(T0),
  expires_at: expiresAt === null ? null : iso(expiresAt),
});

describe("leasesOf", () => {
  // A file from the old service has only a count: each client becomes an anonymous lease that never expires.
  test.each([0, 1, 3])("old-service status with count %i", (n) => {
    const leases = leasesOf(status({ peticions_ollama: n }));
    expect(leases).toEqual(Array.from({ length: n }, (_, i) => ({ id: `legacy-${i + 1}`, holder: null, taken_at: iso(T0), expires_at: null })));
  });

  test("mixed: real leases first, the rest of the count filled with legacy ones numbered after them", () => {
    const real = [lease("a", T0 + 1000, "x")];
    expect(leasesOf(status({ leases: real, peticions_ollama: 3 })).map((l) => l.id)).toEqual(["a", "legacy-2", "legacy-3"]);
  });

  test("returns a copy: changing it leaves the status untouched", () => {
    const s = status({ leases: [lease("a", null)] });
    leasesOf(s).pop();
    expect(s.leases).toHaveLength(1);
  });
});

describe("takeLease", () => {
  test.each<[string, number, string | null]>([
    ["ttl 0 never expires", 0, null],
    // A negative TTL must not produce an expiry in the past.
    ["negative ttl never expires", -5, null],
    ["ttl 30 s expires 30 s later", 30, iso(T0 + 30_000)],
    ["ttl 1 h", 3600, iso(T0 + 3_600_000)],
  ])("%s", (_name, ttlS, expiresAt) => {
    const { lease: l } = takeLease(status(), { ttlS, now: T0 });
    expect(l.expires_at).toBe(expiresAt);
    expect(l.taken_at).toBe(iso(T0));
  });

  test.each<[string, string | null | undefined, string | null]>([
    ["holder defaults to null", undefined, null],
    ["explicit null holder", null, null],
    ["named holder", "laptop", "laptop"],
  ])("%s", (_name, holder, expected) => {
    expect(takeLease(status(), { ttlS: 0, holder, now: T0 }).lease.holder).toBe(expected);
  });

  // The count is what the old service reads: it must always equal the list it stands for.
  test.each([
    ["empty", status()],
    ["two leases", status({ leases: [lease("a", null), lease("b", T0 + 1)] })],
    ["legacy count only", status({ peticions_ollama: 2 })],
  ] as const)("appends and keeps the count equal to the list (%s)", (_name, s) => {
    const { lease: l, changes } = takeLease(s, { ttlS: 10, now: T0 });
    expect(changes.leases.at(-1)).toEqual(l);
    expect(changes.peticions_ollama).toBe(changes.leases.length);
    expect(changes.leases.length).toBe(leasesOf(s).length + 1);
  });

  test("each lease gets its own id", () => {
    const s = status();
    expect(takeLease(s, { ttlS: 0, now: T0 }).lease.id).not.toBe(takeLease(s, { ttlS: 0, now: T0 }).lease.id);
  });
});

describe("releaseLease", () => {
  const s = status({ leases: [lease("a", null), lease("b", T0 + 5000), lease("c", null)] });
  test.each<[string, Status, string | undefined, string | null, string[]]>([
    ["the named lease", s, "b", "b", ["a", "c"]],
    ["the oldest when none is named", s, undefined, "a", ["b", "c"]],
    // Releasing twice (a retried request) must not take someone else's lease.
    ["an unknown id changes nothing", s, "zzz", null, ["a", "b", "c"]],
    ["nothing to release", status(), undefined, null, []],
    ["a legacy lease by its id", status({ peticions_ollama: 2 }), "legacy-2", "legacy-2", ["legacy-1"]],
  ])("%s", (_name, st, id, released, left) => {
    const r = releaseLease(st, id);
    expect(r.released?.id ?? null).toBe(released);
    expect(r.changes.leases.map((l) => l.id)).toEqual(left);
    expect(r.changes.peticions_ollama).toBe(left.length);
  });
});

describe("expireLeases", () => {
  const s = status({ leases: [lease("past", T0 - 1), lease("now", T0), lease("later", T0 + 1), lease("never", null)] });
  test("expires_at == now is expired; later and never-expiring ones stay", () => {
    const { expired, changes } = expireLeases(s, T0);
    expect(expired.map((l) => l.id)).toEqual(["past", "now"]);
    expect(changes.leases.map((l) => l.id)).toEqual(["later", "never"]);
    expect(changes.peticions_ollama).toBe(2);
  });

  test("legacy anonymous leases never expire", () => {
    expect(expireLeases(status({ peticions_ollama: 2 }), T0 + 1e12).changes.peticions_ollama).toBe(2);
  });
});

describe("leaseCapReached", () => {
  type Row = [string, Status, number, { live: number; retryAfterS: number } | null];
  test.each<Row>([
    ["below the cap: room", status({ leases: [lease("a", T0 + 10_000)] }), 2, null],
    ["empty, cap 1: room", status(), 1, null],
    // At the cap: the soonest expiry tells the client when to retry.
    [
      "at the cap: seconds to the soonest expiry",
      status({ leases: [lease("a", T0 + 10_000), lease("b", T0 + 4_000)] }),
      2,
      { live: 2, retryAfterS: 4 },
    ],
    ["over the cap counts them all", status({ leases: [lease("a", T0 + 10_000), lease("b", T0 + 20_000)] }), 1, { live: 2, retryAfterS: 10 }],
    // Rounded up, never 0: a Retry-After of 0 would make clients spin.
    ["a part second rounds up", status({ leases: [lease("a", T0 + 1_200)] }), 1, { live: 1, retryAfterS: 2 }],
    ["minimum 1 s", status({ leases: [lease("a", T0 + 1)] }), 1, { live: 1, retryAfterS: 1 }],
    // Only a release frees a place when nothing expires: ask again in a minute.
    ["never-expiring leases: 60 s", status({ leases: [lease("a", null), lease("b", null)] }), 2, { live: 2, retryAfterS: 60 }],
    [
      "one expiring among never-expiring ones decides",
      status({ leases: [lease("a", null), lease("b", T0 + 7_000)] }),
      2,
      { live: 2, retryAfterS: 7 },
    ],
    // Expired leases not yet swept must not block new ones.
    ["expired leases do not count", status({ leases: [lease("a", T0), lease("b", T0 - 1), lease("c", T0 + 3_000)] }), 2, null],
    // The old service's anonymous count holds places too.
    ["legacy count alone reaches the cap", status({ peticions_ollama: 3 }), 3, { live: 3, retryAfterS: 60 }],
    ["legacy count plus real leases", status({ leases: [lease("a", T0 + 5_000)], peticions_ollama: 2 }), 2, { live: 2, retryAfterS: 5 }],
  ])("%s", (_name, s, max, expected) => {
    expect(leaseCapReached(s, max, T0)).toEqual(expected);
  });
});
