// The simulated AI machine in a process of its own: the load generator's work never slows down the
// Ollama the gateway talks to, and the gateway's memory is measured apart from both.
import { simEnv } from "../../src/sim/env.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";

/**
 * The fake's "endless" model sends one token line per chunk by default. Filling the kernel buffers of
 * 200 unread streams that way kept this process busy for seconds, and the requests queued behind it
 * timed out (504) before the gateway ever met a stalled reader: here it sends about 64 KB per chunk.
 */
const ENDLESS_LINES = process.env.SIM_PLAIN_ENDLESS ? 1 : 1024;

const sim = new SimulatedMachine({
  sshUser: "ia",
  sshPassword: process.env.SIM_SSH_PASS,
  sudoPassword: process.env.SIM_SUDO_PASS,
  bootDelayMs: 200,
  // record: false, or the fake would keep the last 200 request bodies, some of them megabytes.
  ollama: { chunkDelayMs: 0, record: false, endlessLinesPerChunk: ENDLESS_LINES },
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
