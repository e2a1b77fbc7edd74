/**
 * Try ollama-gate with no hardware: two simulated AI machines on loopback, and the gateway in front of them.
 * "big" (llama3.1:70b) is woken by a magic packet and shut down over SSH; "small" (qwen2.5:7b) is switched
 * by a simulated smart plug over HTTP. A request wakes only the machine that holds its model.
 * Nothing here can power anything off: each "machine" is an ssh2 server that only records commands, and
 * the plug is a loopback HTTP server.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../app.ts";
import { DEMO_USAGE, helpOnly } from "../cli/usage.ts";
import { parseConfig } from "../config/config.ts";
import { buildDeps, prepareFleet, startFleet } from "../deps.ts";
import { addressInUse, portInUseMessage, serve } from "../http/server.ts";
import { startDemoMachines } from "./demo-machines.ts";
import { simMachinesFile } from "./fleet.ts";

// --help, or a word the demo does not know: answered before any machine starts or port is bound.
const usageExit = helpOnly(process.argv.slice(2), DEMO_USAGE, "ollama-gate demo");
if (usageExit !== undefined) process.exit(usageExit);

const DEFAULT_PORT = 8000;
const apiKey = `demo-${randomBytes(12).toString("hex")}`;
const sshPassword = randomBytes(9).toString("base64");
const sudoPassword = randomBytes(9).toString("base64");
const bootDelayMs = Number(process.env.DEMO_BOOT_DELAY_MS ?? 1500);
// Idle minutes before a machine the gateway woke goes back to sleep: about one, to be seen (the default is 30).
const DEMO_IDLE_MIN = 1;
// What the simulated machines would draw (a GPU workstation, a mini PC), so /energy and the dashboard have figures.
const DEMO_WATTS: Record<string, { on: number; off: number }> = { big: { on: 250, off: 3 }, small: { on: 35, off: 1 } };
const DEMO_PRICE_PER_KWH = "0.30";

let stopping = false;
const {
  big,
  small,
  plug,
  stop: stopMachines,
} = await startDemoMachines({
  sshPassword,
  sudoPassword,
  bootDelayMs,
  log: (line) => !stopping && console.log(line),
});

const statusDir = mkdtempSync(join(tmpdir(), "ollama-gate-demo-"));
const machinesFile = join(statusDir, "machines.json");
const fleetFile = simMachinesFile([
  { name: "big", sim: big, models: ["llama3.1:70b"] },
  { name: "small", sim: small, plug, models: ["qwen2.5:7b"] },
]);
const machinesWithWatts = fleetFile.machines.map((m) => ({ ...m, power_watts: DEMO_WATTS[m.name] }));
writeFileSync(machinesFile, JSON.stringify({ machines: machinesWithWatts }, null, 2));
const parsed = parseConfig({
  API_KEYS: apiKey,
  MACHINES_FILE: machinesFile,
  SIM_SSH_PASS: sshPassword,
  SIM_SUDO_PASS: sudoPassword,
  STATUS_FILE: join(statusDir, "status.json"),
  PORT: process.env.PORT ?? String(DEFAULT_PORT),
  HOST: "127.0.0.1",
  IDLE_SHUTDOWN_MIN: String(DEMO_IDLE_MIN),
  ENERGY_PRICE_PER_KWH: DEMO_PRICE_PER_KWH,
});
if (!parsed.ok) throw new Error(parsed.errors.join("\n"));

const deps = buildDeps(parsed.config);
const app = createApp(deps);
// Listen first: a PORT asked for by name and taken must be one line on stderr, before anything logs.
const { server, note } = await listen(app, parsed.config.listen.port);
await prepareFleet(deps);
startFleet(deps);
const url = `http://127.0.0.1:${server.port}`;

const curl = (method: string, path: string) => `curl -s -X ${method} -H 'X-API-Key: ${apiKey}' ${url}${path}`;
// Quoted: a shell would take the ? of a query for a pattern (zsh stops at "no matches found").
const read = (path: string) => `curl -s -H 'X-API-Key: ${apiKey}' '${url}${path}'`;
// curl -d alone says the body is a form: the JSON type lets the gateway read the model and pick the machine.
const chat = (model: string) =>
  `curl -s -H 'X-API-Key: ${apiKey}' -H 'Content-Type: application/json' ${url}/api/chat -d '{"model":"${model}","messages":[{"role":"user","content":"hi"}]}'`;
const watts = Object.entries(DEMO_WATTS)
  .map(([name, w]) => `${name} ${w.on} W on, ${w.off} W off`)
  .join("; ");
console.log(`
ollama-gate demo — gateway at ${url}, in front of two simulated AI machines (each boots ${bootDelayMs} ms after it gets power)
${note}
  API key:   ${apiKey}
  Docs:      ${url}/docs
  Dashboard: ${url}/ (log in with the key above; its Usage view: ${url}/ui#usage)

Machines (both asleep):
  big     llama3.1:70b   woken by a magic packet (Wake-on-LAN), shut down over SSH
  small   qwen2.5:7b     powered by a simulated smart plug over HTTP (${plug.url}/relay/0)

Try:
  ${curl("GET", "/machines")}
                                     # both machines, asleep: power state, models, how each is powered
  ${curl("GET", "/api/tags")}
                                     # every machine's models while both sleep: nothing wakes
  ${chat("qwen2.5:7b")}
                                     # wakes only small: the plug switches on, the answer streams
  ${chat("llama3.1:70b")}
                                     # wakes only big: a magic packet
  ${curl("GET", "/machines")}
                                     # both on now
  ${read("/usage?group_by=key,model")}
                                     # the tokens of those chats, per key and model, as the simulated Ollama reported them
  ${read("/energy")}
                                     # kWh each machine used and what sleeping saved (power_watts: ${watts}; ${DEMO_PRICE_PER_KWH} EUR/kWh)
  ${curl("POST", "/machines/small/shutdown")}
                                     # the plug switches small off; big stays on
  sleep 70; ${curl("GET", "/machines")}
                                     # wait a minute: big goes back to sleep by itself, as small does after a chat
                                     # (nothing held it on for IDLE_SHUTDOWN_MIN: ${DEMO_IDLE_MIN} here, 30 by default)
  curl -sN -H 'X-API-Key: ${apiKey}' ${url}/events   # every decision, live

Machines file: ${machinesFile}
Status files:  ${statusDir}
Press Ctrl+C to stop.
`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    stopping = true;
    for (const u of deps.fleet.units) await u.monitor.stop();
    server.stop(true);
    await stopSims();
    process.exit(0);
  });
}

async function stopSims() {
  stopping = true;
  await stopMachines();
  rmSync(statusDir, { recursive: true, force: true });
}

/**
 * Port 8000 unless PORT says otherwise. When 8000 is taken (another demo, another service) the demo takes
 * any free port and says so; a PORT that was asked for by name and is taken is an error, in one line.
 */
async function listen(app: ReturnType<typeof createApp>, port: number) {
  try {
    return { server: serve(app, { hostname: "127.0.0.1", port }), note: "" };
  } catch (err) {
    if (!addressInUse(err)) throw err;
    if (process.env.PORT !== undefined) {
      console.error(`ollama-gate demo: ${portInUseMessage("127.0.0.1", port)}`);
      await stopSims();
      process.exit(1);
    }
    const server = serve(app, { hostname: "127.0.0.1", port: 0 });
    return { server, note: `\n  Port ${port} is in use, so the demo took port ${server.port} (set PORT to choose one).\n` };
  }
}
