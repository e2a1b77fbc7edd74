// Status-file compatibility: a file written by an earlier release (the fixture, produced by the
// StatusStore of v0.1.0 through update()) must load with every field intact, and a file from a
// newer release with values this one does not know must not be thrown away as corrupt.
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StatusStore } from "../../../src/core/power/status-store.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";

const FIXTURE = join(import.meta.dir, "../../fixtures/status-v0.1.0.json");
const fixture = () => JSON.parse(readFileSync(FIXTURE, "utf8")) as Record<string, unknown>;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Writes `content` as status.json in a fresh temp dir and returns a store over it. */
function storeWith(content: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), "ollama-gate-status-"));
  dirs.push(dir);
  const file = join(dir, "status.json");
  writeFileSync(file, JSON.stringify(content, null, 2) + "\n");
  const logger = memoryLogger();
  return { store: new StatusStore({ file, logger }), dir, logger };
}

const corruptFiles = (dir: string) => readdirSync(dir).filter((n) => n.includes(".corrupt-"));

describe("StatusStore reads a v0.1.0 status file", () => {
  test("every field survives: leases, counts, flags, deferral", async () => {
    const original = fixture();
    const { store, dir } = storeWith(original);
    const s = await store.read();

    expect(corruptFiles(dir)).toEqual([]);
    // Whole-object equality: nothing dropped, nothing added, nothing coerced.
    expect(s).toEqual(original as typeof s);
    // And the parts the gateway acts on, spelled out so a failure says which one broke.
    expect(s.leases).toHaveLength(2);
    expect(s.peticions_ollama).toBe(2);
    expect(s.leases!.filter((l) => l.expires_at === null)).toHaveLength(1);
    expect(s.leases!.filter((l) => l.expires_at !== null)).toHaveLength(1);
    expect(s.leases!.map((l) => l.holder)).toEqual(["laptop", null]);
    expect(s.permanent_on).toBe(true);
    expect(s.power_state).toBe("on");
    expect(s.shutdown_deferred).toBe("idle");
    expect(s.woken_by_gateway).toBe(true);
    expect(s.last_wake_at).toBe(original.last_wake_at as string);
    expect(s.logical_on).toBe(true);
    expect(s.phisical_on).toBe(true);
  });

  test("reading leaves the file as it was", async () => {
    const { store, dir } = storeWith(fixture());
    const before = readFileSync(join(dir, "status.json"), "utf8");
    await store.read();
    expect(readFileSync(join(dir, "status.json"), "utf8")).toBe(before);
  });
});

describe("StatusStore reads a status file from a newer version", () => {
  // A rollback after an upgrade must not lose every lease (and the counters the old clients read)
  // because the newer release wrote a state or a deferral reason this one has never heard of.
  test("unknown power_state and shutdown_deferred are not corruption", async () => {
    const original = fixture();
    const { store, dir, logger } = storeWith({ ...original, power_state: "hibernating", shutdown_deferred: "maintenance" });
    const s = await store.read();

    expect(corruptFiles(dir)).toEqual([]);
    expect(logger.lines.filter((l) => l.includes("corrupt"))).toEqual([]);
    expect(s.leases).toEqual(original.leases as typeof s.leases);
    expect(s.peticions_ollama).toBe(2);
    expect(s.permanent_on).toBe(true);
    expect(s.woken_by_gateway).toBe(true);
    expect(s.last_wake_at).toBe(original.last_wake_at as string);
    // Unknown state: read as absent, so the gateway probes the machine again.
    expect(s.power_state).toBeUndefined();
    // Unknown deferral: read as none pending.
    expect(s.shutdown_deferred).toBeNull();
  });

  test("a lease with fields this version does not know keeps them, and one without holder or expiry reads them as null", async () => {
    const original = fixture();
    const leases = original.leases as Record<string, unknown>[];
    const { id, taken_at } = leases[1]!;
    const newer = [
      { ...leases[0], machine: "big" },
      { id, taken_at },
    ];
    const { store, dir } = storeWith({ ...original, leases: newer });
    const s = await store.read();
    expect(corruptFiles(dir)).toEqual([]);
    expect(s.leases).toEqual([
      { ...leases[0], machine: "big" },
      { id, taken_at, holder: null, expires_at: null },
    ] as typeof s.leases);
  });

  test("a value of the wrong kind is still corruption: the file is moved aside", async () => {
    const { store, dir } = storeWith({ ...fixture(), power_state: 42 });
    const s = await store.read();
    expect(corruptFiles(dir)).toHaveLength(1);
    expect(s.peticions_ollama).toBe(0);
  });
});

describe("StatusStore writes changes made at once together", () => {
  test("fifty concurrent changes: each sees the one before it, all reach the file, in far fewer writes", async () => {
    const { store, dir } = storeWith({ peticions_ollama: 0 });
    await store.read();
    const write = spyOn(Bun, "write");
    try {
      const results = await Promise.all(Array.from({ length: 50 }, () => store.update((s) => ({ peticions_ollama: s.peticions_ollama + 1 }))));
      expect(results.map((s) => s.peticions_ollama)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(JSON.parse(readFileSync(join(dir, "status.json"), "utf8")).peticions_ollama).toBe(50);
      // The first change is written alone; the 49 queued meanwhile go out together.
      expect(write.mock.calls.length).toBeLessThanOrEqual(2);
    } finally {
      write.mockRestore();
    }
  });

  test("a change that throws fails alone: the others in its write are kept", async () => {
    const { store, dir } = storeWith({ peticions_ollama: 0 });
    await store.read();
    const bump = () => store.update((s) => ({ peticions_ollama: s.peticions_ollama + 1 }));
    const refused = store.update(() => {
      throw new Error("refused");
    });
    const [first, second] = [bump(), bump()];
    await expect(refused).rejects.toThrow("refused");
    expect((await first).peticions_ollama).toBe(1);
    expect((await second).peticions_ollama).toBe(2);
    expect(JSON.parse(readFileSync(join(dir, "status.json"), "utf8")).peticions_ollama).toBe(2);
  });
});
