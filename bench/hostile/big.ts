// Scenario 3: many 20 MB bodies at once, with a Content-Length and chunked, where the gateway should refuse them early.

import { median } from "../lib/stats.ts";
import { exchange, Tally } from "./measure.ts";
import { rawUpload } from "./raw.ts";
import type { Outcome } from "./scenario.ts";
import type { Ctx, Settings } from "./settings.ts";

/** Each route gets a body of the shape it would accept, so only the size can be the reason to refuse it. */
const SHAPES: [string, string, string][] = [
  ["/arrancar", '{"holder":"', '"}'],
  ["/apagar", '{"lease_id":"', '"}'],
  ["/init", '{"x":"', '"}'],
  ["/ollama/chat", '{"model":"llama3.2:3b","stream":false,"messages":[{"role":"user","content":"', '"}]}'],
  ["/ollama/generate", '{"model":"llama3.2:3b","stream":false,"prompt":"', '"}'],
];

function bodyOf(prefix: string, suffix: string, bytes: number): Uint8Array {
  const b = new Uint8Array(bytes).fill(0x61);
  b.set(Buffer.from(prefix), 0);
  b.set(Buffer.from(suffix), bytes - suffix.length);
  return b;
}

const stats = (ms: number[]) => (ms.length ? `median ${median(ms).toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms` : "n/a");

export async function bigBodies(ctx: Ctx, st: Settings, signal: AbortSignal): Promise<Outcome> {
  const bytes = Math.round(st.bigMB * (1 << 20));
  const tally = new Tally();
  const byRoute: string[] = [];
  const times = { length: [] as number[], chunked: [] as number[] };
  for (const [path, prefix, suffix] of SHAPES) {
    if (signal.aborted) break;
    const t = { length: new Tally(), chunked: new Tally() };
    const body = bodyOf(prefix, suffix, bytes);
    await Promise.all(
      Array.from({ length: st.bigPerRoute }, async () => {
        const a = await exchange(
          ctx.url + path,
          { method: "POST", headers: { "X-API-Key": ctx.key, "Content-Type": "application/json" }, body },
          30_000,
        );
        t.length.add(a.label);
        times.length.push(a.ms);
      }),
    );
    const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${ctx.key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    await Promise.all(
      Array.from({ length: st.bigPerRoute }, async () => {
        const t0 = performance.now();
        t.chunked.add(await rawUpload(ctx.port, head, prefix, suffix, bytes, true, 30_000));
        times.chunked.push(performance.now() - t0);
      }),
    );
    for (const x of [t.length, t.chunked]) for (const [k, n] of Object.entries(x.counts)) tally.add(k, n);
    byRoute.push(`${path}: Content-Length ${t.length.format()}; chunked ${t.chunked.format()}`);
  }
  return {
    requests: tally.total,
    statuses: tally,
    notes: [
      `${st.bigPerRoute} × ${st.bigMB} MB at once per route and framing; time to the answer: Content-Length ${stats(times.length)}; chunked ${stats(times.chunked)}`,
    ],
    details: { "big bodies by route": byRoute },
  };
}
