// Samples a process's VmRSS on its own thread, so a load generator busy on the main thread cannot delay the samples.
// Only types may be imported from this file: importing it runs it, and `self.onmessage` on the main
// thread would keep the bench alive forever.
import { statusKB } from "../lib/proc.ts";

declare const self: Worker;

export interface RssWorkerStart {
  pid: number;
  intervalMs: number;
  /** Int32Array view: [0] peak kB, [1] samples, [2] latest kB, [3] stop flag, [4] peak RssAnon kB. */
  shared: SharedArrayBuffer;
}

self.onmessage = (e: MessageEvent<RssWorkerStart>) => {
  const { pid, intervalMs, shared } = e.data;
  const a = new Int32Array(shared);
  const tick = () => {
    if (Atomics.load(a, 3)) return;
    const kb = statusKB(pid, "VmRSS");
    if (kb === null) return; // the process is gone: nothing more to sample
    if (kb > Atomics.load(a, 0)) Atomics.store(a, 0, kb);
    const anon = statusKB(pid, "RssAnon") ?? 0;
    if (anon > Atomics.load(a, 4)) Atomics.store(a, 4, anon);
    Atomics.store(a, 2, kb);
    Atomics.add(a, 1, 1);
    setTimeout(tick, intervalMs);
  };
  tick();
};
