// (b) and (c): long streams through each target, one at a time and then many at once.
import { type Rss, rss } from "./lib/proc.ts";
import { median } from "./lib/stats.ts";

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

/**
 * Sequential runs, so each one measures a single stream on a warm keep-alive connection; the targets take
 * turns run by run, so a drift in the machine's speed touches all of them alike.
 */
export async function pairedStreamRuns<N extends string>(
  targets: [N, Target][],
  path: string,
  body: string,
  expectLines: number,
  runs: number,
  warmup: number,
): Promise<Partial<Record<N, StreamSummary>>> {
  const timings = new Map<N, StreamTiming[]>(targets.map(([n]) => [n, []]));
  for (let i = 0; i < warmup + runs; i++) {
    for (const [name, t] of targets) {
      const r = await timeStream(t, path, body);
      if (r.lines !== expectLines) throw new Error(`${t.url}${path}: ${r.lines} lines, expected ${expectLines}`);
      if (i >= warmup) timings.get(name)!.push(r);
    }
  }
  const out: Partial<Record<N, StreamSummary>> = {};
  for (const [name, list] of timings) {
    const ttfb = list.map((r) => r.ttfbMs);
    const total = list.map((r) => r.totalMs);
    out[name] = { runs, ttfbMedianMs: median(ttfb), totalMedianMs: median(total), ttfbMinMs: Math.min(...ttfb), totalMinMs: Math.min(...total) };
  }
  return out;
}

export interface LoadResult {
  streams: number;
  wallMs: number;
  /** The sample with the highest VmRSS, its three parts read together. */
  peak: Rss;
  samples: number;
}

/** `n` streams at once, each read to the end, sampling the process's memory meanwhile for its peak. */
export async function streamLoad(t: Target, path: string, body: string, expectLines: number, n: number, pid: number): Promise<LoadResult> {
  let peak = rss(pid);
  let samples = 1;
  const sample = () => {
    const now = rss(pid);
    if (now.vmRssMB > peak.vmRssMB) peak = now;
    samples++;
  };
  const sampler = setInterval(sample, 50);
  const t0 = performance.now();
  try {
    const results = await Promise.all(Array.from({ length: n }, () => timeStream(t, path, body)));
    const bad = results.filter((r) => r.lines !== expectLines);
    if (bad.length) throw new Error(`${bad.length} of ${n} streams were cut short (e.g. ${bad[0]!.lines} lines, expected ${expectLines})`);
  } finally {
    clearInterval(sampler);
  }
  const wallMs = performance.now() - t0;
  sample();
  return { streams: n, wallMs, peak, samples };
}
