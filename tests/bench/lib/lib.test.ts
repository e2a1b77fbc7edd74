// bench/lib: the one rule for settings from the environment, the environment a child gets, and the CPU time
// read from /proc (against a real child that burns CPU, and one that is gone).
import { afterEach, describe, expect, test } from "bun:test";
import { childEnv, num } from "../../../bench/lib/env.ts";
import { cpuSeconds, statusKB, usPerRequest } from "../../../bench/lib/proc.ts";

const NAME = "BENCH_LIB_TEST_NUM";
afterEach(() => {
  delete process.env[NAME];
  delete process.env.BENCH_LIB_TEST_SECRET;
  delete process.env.BUN_JSC_benchLibTest;
});

describe("num()", () => {
  test("unset, blank, not a number or below the minimum: the default", () => {
    for (const raw of [undefined, "", "  ", "abc", "-1", "Infinity"]) {
      if (raw === undefined) delete process.env[NAME];
      else process.env[NAME] = raw;
      expect(num(NAME, 7)).toBe(7);
    }
    process.env[NAME] = "0";
    expect(num(NAME, 7, 1)).toBe(7);
  });

  test("a number at or above the minimum is taken as given, 0 included", () => {
    process.env[NAME] = "0";
    expect(num(NAME, 7)).toBe(0);
    process.env[NAME] = " 2.5 ";
    expect(num(NAME, 7)).toBe(2.5);
  });
});

test("a child's environment holds only the basics, the engine's settings and its own", () => {
  process.env.BENCH_LIB_TEST_SECRET = "from-the-shell";
  process.env.BUN_JSC_benchLibTest = "1";
  const env = childEnv({ API_KEYS: "k" });
  expect(env.BENCH_LIB_TEST_SECRET).toBeUndefined();
  expect(env.BUN_JSC_benchLibTest).toBe("1");
  expect(env.API_KEYS).toBe("k");
  expect(env.PATH).toBe(process.env.PATH!);
});

describe("/proc", () => {
  test("CPU seconds of a child that burns CPU grow; a pid that is gone reads as null", async () => {
    const child = Bun.spawn([process.execPath, "-e", "const end = Date.now() + 400; while (Date.now() < end);"], { stdout: "ignore" });
    const before = cpuSeconds(child.pid);
    expect(before).not.toBeNull();
    await child.exited;
    // Gone and reaped: nothing to read, which is not the same as no CPU used.
    expect(cpuSeconds(child.pid)).toBeNull();
    expect(cpuSeconds([child.pid, process.pid])).toBeGreaterThan(0);
    expect(cpuSeconds([])).toBeNull();
  });

  test("CPU seconds of this process rise while it works", () => {
    const before = cpuSeconds(process.pid)!;
    const end = Date.now() + 300;
    while (Date.now() < end);
    expect(cpuSeconds(process.pid)!).toBeGreaterThan(before);
  });

  test("µs per request between two readings; nothing measured is null", () => {
    expect(usPerRequest(1, 1.5, 1000)).toBe(500);
    expect(usPerRequest(null, 1.5, 1000)).toBeNull();
    expect(usPerRequest(1, 1.5, 0)).toBeNull();
  });

  test("a status field in kB; a field the kernel lacks, or a gone process, is null", () => {
    expect(statusKB(process.pid, "VmRSS")).toBeGreaterThan(1024);
    expect(statusKB(process.pid, "NoSuchField")).toBeNull();
    expect(statusKB(2 ** 22 + 1, "VmRSS")).toBeNull();
  });
});
