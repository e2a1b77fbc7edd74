// The simulated AI machine in a process of its own: the load generator's work never slows down the
// Ollama the gateway talks to, and the gateway's memory is measured apart from both.
import { simEnv } from "../../src/sim/env.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";

/**
 * The "endless" model's pace. A GPU generates some tens of tokens a second; by default the fake sends
 * 256 token lines every 16 ms (far faster than any GPU), which fills a stalled reader's kernel buffers
 * within seconds. SIM_ENDLESS_FLOOD sends 1024 lines per chunk with no pause: then every read of the
 * gateway's upstream socket is as large as Bun reads at once, and that read is
 * held for a reader that takes nothing — the worst case, beyond any real Ollama (README, benchmarks).
 * SIM_PLAIN_ENDLESS sends one line per chunk, unpaced, as the simulator does by default.
 */
const flood = !!process.env.SIM_ENDLESS_FLOOD;
const ENDLESS_LINES = process.env.SIM_PLAIN_ENDLESS ? 1 : flood ? 1024 : 256;
const ENDLESS_DELAY_MS = process.env.SIM_PLAIN_ENDLESS || flood ? 0 : 16;

const sim = new SimulatedMachine({
  sshUser: "ia",
  sshPassword: process.env.SIM_SSH_PASS,
  sudoPassword: process.env.SIM_SUDO_PASS,
  bootDelayMs: 200,
  // record: false, or the fake would keep the last 200 request bodies, some of them megabytes.
  ollama: { chunkDelayMs: 0, record: false, endlessLinesPerChunk: ENDLESS_LINES, endlessChunkDelayMs: ENDLESS_DELAY_MS },
});

await sim.start({ on: true });

// The commands themselves are not printed: their stdin carries the sudo password.
sim.on("state", (state) => console.log(JSON.stringify({ msg: "state", state, commands: sim.commands.length, packets: sim.packets.length })));

const stop = async () => {
  console.log(JSON.stringify({ msg: "stopping", commands: sim.commands.length, packets: sim.packets.length }));
  await sim.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

console.log(JSON.stringify({ msg: "sim ready", env: simEnv(sim) }));
