// Two (or more) gateways in front of one fake Ollama, the same in all but a few settings, taking turns round by
// round (each round starts with the other side): CPU per small request and per streamed line, one at a time,
// and CPU and wall time for many streams at once. What a feature costs is the difference between the sides.
import { join } from "node:path";
import { AUTH, CHAT, GENERATE, KEY, STREAM_LINES } from "../config.ts";
import { streamLoad, timeStream } from "../streams.ts";
import { type Gateway, oneMachine, startGateway, startUpstream, waitAllOn } from "./gateway.ts";
import { tempDir } from "./launch.ts";
import { cpuSeconds } from "./proc.ts";
import { fmt, section, table } from "./report.ts";
import { median } from "./stats.ts";

export interface PairedOptions<S extends string> {
  /**
   * Each side's name, the settings it adds to the one-machine environment (its status dir is its own), and the
   * key its requests are sent with (the bench's admin key when none).
   */
  sides: [S, (dir: string) => Record<string, string>, string?][];
  /** Sequential streams per round per side. */
  runs: number;
  /** Sequential small requests per round per side. */
  smallRuns: number;
  rounds: number;
  /** Streams at once, per round per side. */
  concurrent: number;
  /** For the progress lines on stderr. */
  what: string;
  /** A pause after the load, inside its CPU figure (a store that writes once a second). */
  settleMs?: number;
}

export interface PairedFigures {
  cpuUsPerSmall: number[];
  cpuUsPerChunk: number[];
  firstChunkMs: number[];
  loadCpuUsPerStream: number[];
  loadWallMs: number[];
}

export async function pairedRounds<S extends string>(o: PairedOptions<S>): Promise<Record<S, PairedFigures>> {
  const dir = tempDir("ollama-gate-bench-paired-");
  const upstream = await startUpstream("upstream", dir);
  const gateways = {} as Record<S, Gateway>;
  const figures = {} as Record<S, PairedFigures>;
  const names = o.sides.map(([s]) => s);
  const auth = {} as Record<S, Record<string, string>>;
  for (const [side, extra, key] of o.sides) {
    auth[side] = key ? { "X-API-Key": key } : AUTH;
    const env = { API_KEYS: KEY, ...oneMachine(upstream.port, join(dir, side)), ...extra(dir) };
    gateways[side] = await startGateway({ name: `gateway-${side}`, dir, env });
    await waitAllOn(gateways[side].url, KEY);
    figures[side] = { cpuUsPerSmall: [], cpuUsPerChunk: [], firstChunkMs: [], loadCpuUsPerStream: [], loadWallMs: [] };
  }
  const target = (side: S) => ({ url: gateways[side].url, headers: auth[side] });
  const small = (side: S) =>
    fetch(`${gateways[side].url}/api/chat`, { method: "POST", headers: { "content-type": "application/json", ...auth[side] }, body: CHAT }).then(
      async (r) => {
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`POST /api/chat: HTTP ${r.status}`);
      },
    );
  for (let round = 0; round < o.rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const side of order) {
      console.error(`bench: round ${round + 1}/${o.rounds}: ${o.what} ${side}, one request at a time`);
      const pid = gateways[side].child.pid;
      for (let i = 0; i < 20; i++) await small(side); // warm
      let cpu0 = cpuSeconds(pid)!;
      for (let i = 0; i < o.smallRuns; i++) await small(side);
      figures[side].cpuUsPerSmall.push(((cpuSeconds(pid)! - cpu0) * 1e6) / o.smallRuns);
      for (let i = 0; i < 3; i++) await timeStream(target(side), "/api/generate", GENERATE); // warm
      cpu0 = cpuSeconds(pid)!;
      const first: number[] = [];
      let lines = 0;
      for (let i = 0; i < o.runs; i++) {
        const t = await timeStream(target(side), "/api/generate", GENERATE);
        first.push(t.ttfbMs);
        lines += t.lines;
      }
      figures[side].cpuUsPerChunk.push(((cpuSeconds(pid)! - cpu0) * 1e6) / lines);
      figures[side].firstChunkMs.push(median(first));
    }
    for (const side of order) {
      console.error(`bench: round ${round + 1}/${o.rounds}: ${o.what} ${side}, ${o.concurrent} streams at once`);
      const pid = gateways[side].child.pid;
      const cpu0 = cpuSeconds(pid)!;
      const load = await streamLoad(target(side), "/api/generate", GENERATE, STREAM_LINES, o.concurrent, pid);
      if (o.settleMs) await Bun.sleep(o.settleMs);
      figures[side].loadCpuUsPerStream.push(((cpuSeconds(pid)! - cpu0) * 1e6) / o.concurrent);
      figures[side].loadWallMs.push(load.wallMs);
    }
  }
  return figures;
}

/** The table of two sides' medians, their ratio and every round's figure. */
export function pairedTable<S extends string>(
  title: string,
  sides: [S, S],
  figures: Record<S, PairedFigures>,
  o: { runs: number; concurrent: number },
): string {
  const row = (label: string, pick: (f: PairedFigures) => number[], digits = 2) => {
    const [a, b] = sides.map((s) => median(pick(figures[s])));
    const rounds = sides.map((s) =>
      pick(figures[s])
        .map((x) => x.toFixed(digits))
        .join(" "),
    );
    return [label, fmt(a!, digits), fmt(b!, digits), fmt(b! / a!, 2), rounds.join(" / ")]; // not "|": a Markdown cell
  };
  return section(
    title,
    table(
      ["", sides[0], sides[1], `${sides[1]} ÷ ${sides[0]}`, `rounds: ${sides[0]} / ${sides[1]}`],
      [
        row("gateway CPU µs per small request (POST /api/chat)", (f) => f.cpuUsPerSmall, 1),
        row(`gateway CPU µs per streamed line (${STREAM_LINES}-line streams)`, (f) => f.cpuUsPerChunk, 3),
        row(`first chunk ms (median of ${o.runs} streams)`, (f) => f.firstChunkMs, 3),
        row(`gateway CPU µs per stream, ${o.concurrent} at once`, (f) => f.loadCpuUsPerStream, 0),
        row(`wall ms for ${o.concurrent} streams at once`, (f) => f.loadWallMs, 0),
      ],
    ),
  );
}
