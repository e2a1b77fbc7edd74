// The first seconds of load on a fresh gateway against the same gateway warm. The engine compiles a function
// to faster code only after many calls (src/index.ts sets how many), so a gateway just started may pay more
// per request until its hot path has been compiled: the target is that it does not.
import { medianOf, ratio } from "./lib/stats.ts";
import { measuredRun, type RunFigures } from "./rounds.ts";
import { type Lab, startOne } from "./targets.ts";

export interface Cold {
  runs: { first: RunFigures; warm: RunFigures }[];
  /** CPU per request in the first seconds ÷ warm, each fresh gateway against itself; the median over them. */
  firstXWarm: number | null;
}

/** Each run: a new one-machine gateway, loaded from its first proxied request for `coldS`, then again after `coldWarmS` more. */
export async function coldVsWarm(lab: Lab, wrkBin: string, script: string, log: (msg: string) => void): Promise<Cold> {
  const st = lab.st;
  const runs: Cold["runs"] = [];
  for (let i = 0; i < st.coldRuns; i++) {
    log(`(a) a fresh gateway ${i + 1}/${st.coldRuns}: its first ${st.coldS} s of load, then warm`);
    const gw = await startOne(lab, `fresh-gateway-${i + 1}`);
    try {
      const c = { name: "gateway" as const, url: gw.url, pids: [gw.child.pid], upstreamPid: lab.upstream.child.pid };
      const first = await measuredRun(wrkBin, script, c, st.connections, st.coldS);
      runs.push({ first, warm: await measuredRun(wrkBin, script, c, st.connections, st.coldS, st.coldWarmS) });
    } finally {
      await gw.child.stop();
    }
  }
  return { runs, firstXWarm: medianOf(runs.map((r) => ratio(r.first.cpuUsPerReq, r.warm.cpuUsPerReq))) };
}
