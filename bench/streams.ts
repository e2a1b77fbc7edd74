import { readFileSync } from "node:fs";

export interface Target {
  url: string;
  headers: Record<string, string>;
}

export interface StreamTiming {
  ttfbMs: number;
  totalMs: number;
  lines: number;
}

/** One streamed request, read to the end. TTFB is the first body chunk, not the headers: that is what a chat UI shows. */
export async function timeStream(t: Target, path: string, body: string): Promise<StreamTiming> {
  const t0 = performance.now();
  const res = await fetch(t.url + path, { method: "POST", headers: { "content-type": "application/json", ...t.headers }, body });
  if (res.status !== 200 || !res.body) throw new Error(`POST ${t.url}${path}: HTTP ${res.status} ${await res.text()}`);
  let ttfb = -1;
  let lines = 0;
  for await (const chunk of res.body) {
    if (ttfb < 0 && chunk.byteLength > 0) ttfb = performance.now() - t0;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
  }
  return { ttfbMs: ttfb, totalMs: performance.now() - t0, lines };
}

export interface StreamSummary {
  runs: number;
  ttfbMedianMs: number;
  totalMedianMs: number;
  ttfbMinMs: number;
  totalMinMs: number;
}

/** Sequential runs, so each one measures a single stream on a warm keep-alive connection. */
export async function streamRuns(t: Target, path: string, body: string, expectLines: number, runs: number, warmup: number): Promise<StreamSummary> {
  const timings: StreamTiming[] = [];
  for (let i = 0; i < warmup + runs; i++) {
    const r = await timeStream(t, path, body);
    if (r.lines !== expectLines) throw new Error(`${t.url}${path}: ${r.lines} lines, expected ${expectLines}`);
    if (i >= warmup) timings.push(r);
  }
  const ttfb = timings.map((r) => r.ttfbMs);
  const total = timings.map((r) => r.totalMs);
  return { runs, ttfbMedianMs: median(ttfb), totalMedianMs: median(total), ttfbMinMs: Math.min(...ttfb), totalMinMs: Math.min(...total) };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function rssMB(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)\s+kB/);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

export interface LoadResult {
  streams: number;
  wallMs: number;
  peakRssMB: number;
  samples: number;
}

/** `n` streams at once, each read to the end, sampling the process's RSS meanwhile for its peak. */
export async function streamLoad(t: Target, path: string, body: string, expectLines: number, n: number, pid: number): Promise<LoadResult> {
  let peak = rssMB(pid);
  let samples = 1;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMB(pid));
    samples++;
  }, 50);
  const t0 = performance.now();
  try {
    const results = await Promise.all(Array.from({ length: n }, () => timeStream(t, path, body)));
    const bad = results.filter((r) => r.lines !== expectLines);
    if (bad.length) throw new Error(`${bad.length} of ${n} streams were cut short (e.g. ${bad[0]!.lines} lines, expected ${expectLines})`);
  } finally {
    clearInterval(sampler);
  }
  const wallMs = performance.now() - t0;
  peak = Math.max(peak, rssMB(pid));
  return { streams: n, wallMs, peakRssMB: peak, samples: samples + 1 };
}
