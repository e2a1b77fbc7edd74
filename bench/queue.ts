// `bun run bench:queue`: what a machine's queue costs a request when its slots are free. Two gateways in front
// of one fake Ollama, the same in all but MAX_CONCURRENT (unset: no queue; and a number no load here reaches,
// so every request takes a slot and gives it back without waiting), the second's requests sent with a key that
// has limits (rate_per_min and max_concurrent no run reaches), taking turns. The target: no difference
// beyond the noise between rounds.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { num } from "./lib/env.ts";
import { cleanupOnExit, stopAll } from "./lib/launch.ts";
import { pairedRounds, pairedTable } from "./lib/paired.ts";
import { machine, machineTable } from "./lib/report.ts";

const RUNS = Math.round(num("QUEUE_BENCH_RUNS", 20, 4));
const ROUNDS = Math.round(num("QUEUE_BENCH_ROUNDS", 5, 1));
const CONCURRENT = Math.round(num("QUEUE_BENCH_STREAMS", 200, 1));
const SAME = process.env.QUEUE_BENCH_SAME === "1";

const LIMITED = "limited-bench-key-0123456789";

/** The "set" side's requests come with this key: a rate and places no run reaches, so each takes and gives back. */
function limitedKeys(dir: string): string {
  const file = join(dir, "keys.yaml");
  writeFileSync(file, `keys:\n  - { name: limited, key: ${LIMITED}, role: inference, rate_per_min: 10000000, max_concurrent: 10000 }\n`);
  return file;
}

async function main() {
  cleanupOnExit();
  const figures = await pairedRounds({
    sides: [
      ["unset", () => ({ USAGE_DB: "off" })],
      // QUEUE_BENCH_SAME=1: both sides unset, for the noise between two identical gateways.
      SAME
        ? ["set", () => ({ USAGE_DB: "off" })]
        : ["set", (dir) => ({ USAGE_DB: "off", MAX_CONCURRENT: "1000", MAX_QUEUE: "64", KEYS_FILE: limitedKeys(dir) }), LIMITED],
    ],
    runs: RUNS,
    smallRuns: 400,
    rounds: ROUNDS,
    concurrent: CONCURRENT,
    what: "queue",
  });
  await stopAll();
  console.log(machineTable(machine()));
  const title = `#### A machine's queue unset and set with free slots (MAX_CONCURRENT=1000) — median of ${ROUNDS} rounds, the two gateways taking turns`;
  console.log(pairedTable(title, ["unset", "set"], figures, { runs: RUNS, concurrent: CONCURRENT }));
}

main().catch(async (err) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
