// The pure parts of `bun run bench`: /proc parsing, the paired arithmetic, the Dockerfile's build line and
// the fleet's machines file (checked against the gateway's own parser).
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileCommand } from "../../bench/compiled.ts";
import { BENCH_MODEL } from "../../bench/config.ts";
import { FLEET, machinesFile } from "../../bench/fleet.ts";
import { parseStat, parseStatus, rss } from "../../bench/lib/proc.ts";
import { median, medianOf, pairedMedian, ratio } from "../../bench/lib/stats.ts";
import { type Round, roundOrder, socketErrorCount, summarize } from "../../bench/rounds.ts";
import { parseConfig } from "../../src/config/config.ts";

const ROOT = join(import.meta.dir, "..", "..");

describe("/proc", () => {
  test("status: VmRSS, RssAnon and RssFile in MB; a field the kernel lacks is NaN, not 0", () => {
    const text = "Name:\tbun\nVmRSS:\t   56320 kB\nRssAnon:\t   18432 kB\nRssFile:\t   37888 kB\nRssShmem:\t       0 kB\n";
    expect(parseStatus(text)).toEqual({ vmRssMB: 55, rssAnonMB: 18, rssFileMB: 37 });
    expect(parseStatus("VmRSS:\t1024 kB\n").rssAnonMB).toBeNaN();
    expect(() => parseStatus("Name:\tzombie\n")).toThrow(/VmRSS/);
  });

  test("stat: utime + stime and ppid, counted from the last ')' since a command name may hold spaces and parentheses", () => {
    const fields = ["S", "41", ...Array(9).fill("0"), "150", "25", "9", "9"];
    expect(parseStat(`1234 (bun (x) y) ${fields.join(" ")}`)).toEqual({ ticks: 175, ppid: 41 });
  });

  test("this process reads as a live one", () => {
    const r = rss(process.pid);
    expect(r.vmRssMB).toBeGreaterThan(1);
    expect(r.rssAnonMB + r.rssFileMB).toBeLessThanOrEqual(r.vmRssMB + 0.01);
  });
});

describe("paired rounds", () => {
  test("median, and the median of what exists", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(medianOf([null, 5, undefined, 1, Number.NaN])).toBe(3);
    expect(medianOf([null])).toBeNull();
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(3, 4)).toBe(0.75);
  });

  test("ratios are taken within each round, then their median: a slow round slows both sides", () => {
    const rounds = [
      { a: 100, b: 200 },
      { a: 50, b: 100 },
      { a: 90, b: 100 },
    ];
    expect(pairedMedian(rounds, (r) => ratio(r.a, r.b))).toBe(0.5);
  });

  test("each round starts one target later", () => {
    const names = ["direct", "nginx", "gateway", "fleet"] as const;
    expect(roundOrder([...names], 0)).toEqual(["direct", "nginx", "gateway", "fleet"]);
    expect(roundOrder([...names], 1)).toEqual(["nginx", "gateway", "fleet", "direct"]);
    expect(roundOrder([...names], 5)).toEqual(["nginx", "gateway", "fleet", "direct"]);
  });

  test("summaries: medians of each figure, paired ratios and added p50, errors summed", () => {
    const run = (rps: number, p50Ms: number, cpu: number | null = null) => ({
      rps,
      p50Ms,
      p99Ms: p50Ms * 3,
      requests: rps * 5,
      non2xx: 0,
      socketErrors: null,
      cpuUsPerReq: cpu,
      upstreamCpuUsPerReq: 10,
    });
    const rounds: Round[] = [
      { order: ["direct", "nginx", "gateway"], runs: { direct: run(40, 0.3), nginx: run(20, 0.5, 50), gateway: run(16, 1.1, 100) } },
      { order: ["nginx", "gateway", "direct"], runs: { direct: run(30, 0.4), nginx: run(15, 0.6, 52), gateway: run(9, 1.6, 120) } },
      { order: ["gateway", "direct", "nginx"], runs: { direct: run(20, 0.5), nginx: run(10, 0.9, 51), gateway: run(7, 1.9, 110) } },
    ];
    const s = summarize(rounds);
    expect(s.gateway!.rps).toBe(9);
    expect(s.gateway!.cpuUsPerReq).toBe(110);
    expect(s.gateway!.xNginx).toBeCloseTo(0.7); // 0.8, 0.6, 0.7
    expect(s.gateway!.addedP50Ms).toBeCloseTo(1.2); // 0.8, 1.2, 1.4
    expect(s.direct!.cpuUsPerReq).toBeNull();
    expect(s.fleet).toBeUndefined();
  });

  test("wrk's socket errors counted", () => {
    expect(socketErrorCount("connect 0, read 2, write 0, timeout 5")).toBe(7);
    expect(socketErrorCount(null)).toBe(0);
  });
});

describe("what the bench builds and starts", () => {
  test("the Dockerfile's compile line, its output moved, run by this bun", () => {
    const cmd = compileCommand(readFileSync(join(ROOT, "Dockerfile"), "utf8"), "/tmp/x/ollama-gate");
    expect(cmd[0]).toBe(process.execPath);
    expect(cmd.slice(1, 3)).toEqual(["build", "--compile"]);
    expect(cmd[cmd.indexOf("--outfile") + 1]).toBe("/tmp/x/ollama-gate");
    expect(cmd).toContain("*.node"); // the quotes of '*.node' are the shell's, not part of the word
  });

  test("the fleet's machines file is one the gateway accepts: loopback only, the bench's model on the last machine alone", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-fleet-"));
    try {
      const file = join(dir, "machines.json");
      const machines = FLEET.map((m, i) => ({ name: m.name, port: 40000 + i, models: m.models }));
      writeFileSync(file, JSON.stringify(machinesFile(machines, 40999)));
      const parsed = parseConfig({ API_KEYS: "bench-test-key", MACHINES_FILE: file, STATUS_FILE: join(dir, "status.json") });
      if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
      const got = parsed.config.machines;
      expect(got.map((m) => m.host)).toEqual(["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
      expect(got.map((m) => m.wol.address)).toEqual(["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
      expect(new Set(got.map((m) => m.ollamaPort)).size).toBe(3);
      // No ssh: probed on the Ollama port (the fake answers), and never shut down.
      expect(got.every((m) => m.probePort === m.ollamaPort && m.powerOff.kind === "none")).toBe(true);
      expect(got.map((m) => m.models.includes(BENCH_MODEL))).toEqual([false, false, true]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
