// What every scenario shares: the gateway's peak memory, a count of answers, and bounded request loops.
import { writeFileSync } from "node:fs";
import { statusKB } from "../lib/proc.ts";
import type { RssWorkerStart } from "./rss-worker.ts";

export interface RssReading {
  peakMB: number;
  sampledPeakMB: number;
  /**
   * Peak RssAnon: the part of RSS that only the process holds. The rest (RssFile) is Bun's own executable
   * mapped from disk, which the kernel can drop and read again under memory pressure.
   */
  peakAnonMB: number;
  /** VmHWM since the reset; null when /proc/<pid>/clear_refs could not be written (not root). */
  hwmMB: number | null;
  samples: number;
  /** VmRSS as the scenario began and as it ended: what a scenario leaves behind shows as the next one's start. */
  startMB: number;
  endMB: number;
  /** The gateway grew past the abort threshold and the scenario was cut short. */
  aborted: boolean;
}

const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;

/**
 * Peak resident memory of one process over one scenario: VmRSS sampled every ~25 ms on a worker thread,
 * and VmHWM (the kernel's exact peak), which "5" in clear_refs resets to the current RSS.
 */
export class RssProbe {
  private worker?: Worker;
  private shared?: Int32Array;
  private watch?: ReturnType<typeof setInterval>;
  private hwmReset = false;
  private over = false;
  private startKB = 0;

  constructor(
    private readonly pid: number,
    private readonly abortMB: number,
  ) {}

  start(onOver: () => void, intervalMs = 25): void {
    try {
      writeFileSync(`/proc/${this.pid}/clear_refs`, "5");
      this.hwmReset = true;
    } catch {
      this.hwmReset = false; // not root: sampling alone
    }
    const buf = new SharedArrayBuffer(20);
    this.shared = new Int32Array(buf);
    this.startKB = statusKB(this.pid, "VmRSS") ?? 0;
    Atomics.store(this.shared, 0, this.startKB);
    this.over = false;
    this.worker = new Worker(new URL("./rss-worker.ts", import.meta.url).href);
    this.worker.postMessage({ pid: this.pid, intervalMs, shared: buf } satisfies RssWorkerStart);
    // Checked on the main thread: the scenario's loops are there, and they are the ones to stop.
    this.watch = setInterval(() => {
      if (!this.over && mb(Atomics.load(this.shared!, 2)) > this.abortMB) {
        this.over = true;
        onOver();
      }
    }, 100);
  }

  stop(): RssReading {
    clearInterval(this.watch);
    const a = this.shared!;
    Atomics.store(a, 3, 1);
    this.worker?.terminate();
    const endKB = statusKB(this.pid, "VmRSS") ?? 0;
    const peakKB = Math.max(Atomics.load(a, 0), endKB);
    const hwm = this.hwmReset ? statusKB(this.pid, "VmHWM") : null;
    return {
      peakMB: mb(Math.max(peakKB, hwm ?? 0)),
      sampledPeakMB: mb(peakKB),
      peakAnonMB: mb(Math.max(Atomics.load(a, 4), statusKB(this.pid, "RssAnon") ?? 0)),
      hwmMB: hwm === null ? null : mb(hwm),
      samples: Atomics.load(a, 1),
      startMB: mb(this.startKB),
      endMB: mb(endKB),
      aborted: this.over,
    };
  }
}

/** Answers by status code, or by what happened instead ("timeout", "closed", "fetch-econnreset", …). */
export class Tally {
  readonly counts: Record<string, number> = {};
  total = 0;

  add(label: string | number, n = 1): void {
    const k = String(label);
    this.counts[k] = (this.counts[k] ?? 0) + n;
    this.total += n;
  }

  /** Status codes in order first, then the other outcomes: "200:5123 401:812 timeout:3". */
  format(): string {
    const keys = Object.keys(this.counts).sort((a, b) => {
      const na = /^\d+$/.test(a),
        nb = /^\d+$/.test(b);
      if (na !== nb) return na ? -1 : 1;
      return na ? Number(a) - Number(b) : a.localeCompare(b);
    });
    return keys.map((k) => `${k}:${this.counts[k]}`).join(" ") || "–";
  }
}

export interface PoolLimits {
  deadline: number;
  signal?: AbortSignal;
}

/** Runs job(0…n-1) on `clients` workers; none starts after the deadline or an abort. Resolves with how many started. */
export async function pool(n: number, clients: number, limits: PoolLimits, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < n && Date.now() < limits.deadline && !limits.signal?.aborted) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(clients, n) }, worker));
  return next;
}

export interface Answer {
  status: number;
  /** The status as text, or what went wrong instead. */
  label: string;
  headers: Headers | null;
  bytes: number;
  text: string;
  ms: number;
}

/** One fetch, body read to the end, bounded in time; never throws. */
export async function exchange(url: string, init: RequestInit, timeoutMs: number, keepText = false): Promise<Answer> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const buf = new Uint8Array(await res.arrayBuffer());
    const text = keepText ? new TextDecoder().decode(buf) : "";
    return { status: res.status, label: String(res.status), headers: res.headers, bytes: buf.length, text, ms: performance.now() - t0 };
  } catch (err) {
    return { status: 0, label: failureLabel(err), headers: null, bytes: 0, text: "", ms: performance.now() - t0 };
  }
}

export function failureLabel(err: unknown): string {
  const e = err as { name?: string; code?: string };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return "timeout";
  return `fetch-${String(e?.code ?? e?.name ?? "error").toLowerCase()}`;
}
