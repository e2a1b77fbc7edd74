/**
 * `npm run sim`: two simulated AI machines on fixed loopback ports, and a configuration for the real gateway
 * that points at them (machines.yaml, keys.yaml, .env, package.json in ./sim-config), to edit and start with
 * `npm start` in that directory. Unlike the demo it starts no gateway: the user starts theirs, as on the day
 * the machines are real. Nothing here powers anything: each machine is an ssh2 server that only records
 * commands, a fake Ollama and a UDP socket, all on 127.0.0.1.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { usageExit } from "../cli/usage.ts";
import { startDemoMachines } from "./demo-machines.ts";
import { loadSimDir, SIM_KEYS, type SimDir, writeSimDir } from "./sim-config.ts";
import { busySimPorts, DEFAULT_SIM_BASE_PORT, MAX_SIM_BASE_PORT } from "./sim-ports.ts";
import { SIM_USAGE } from "./sim-usage.ts";

const fail = (message: string, code = 2): never => {
  console.error(`ollama-gate sim: ${message}`);
  process.exit(code);
};

let args: ReturnType<typeof parse>;
try {
  args = parse();
} catch (err) {
  process.exit(usageExit(SIM_USAGE, `ollama-gate sim: ${(err as Error).message}`));
}
if (args.help) process.exit(usageExit(SIM_USAGE));

const bootDelayMs = Number(process.env.DEMO_BOOT_DELAY_MS ?? 1500);
if (!Number.isFinite(bootDelayMs) || bootDelayMs < 0) fail("DEMO_BOOT_DELAY_MS: expected milliseconds, 0 or more");

let sim: SimDir;
try {
  sim = loadSimDir(args.dir, { basePort: args.basePort, fresh: args.fresh });
} catch (err) {
  fail((err as Error).message);
}
const { ports, state } = sim!;
const busy = await busySimPorts(ports);
if (busy.length > 0) {
  fail(
    `${busy.length === 1 ? "port" : "ports"} ${busy.join(", ")} ${busy.length === 1 ? "is" : "are"} in use (another \`npm run sim\`?). Stop what holds it, or choose other ports: --base-port N or SIM_BASE_PORT=N ` +
      `(the simulator takes N+1 to N+5${sim!.isNew ? "" : `, and this directory was written for ${state.basePort}: add --fresh or another --dir`}).`,
    1,
  );
}

const { stop } = await startDemoMachines({
  sshPassword: state.sshPassword,
  sudoPassword: state.sudoPassword,
  bootDelayMs,
  ports,
  sshHostKey: state.hostKey,
  log: (line) => console.log(line),
});

const { written, kept } = writeSimDir(sim!, { bun: process.execPath, entry: join(import.meta.dir, "..", "index.ts") });
const gw = `http://127.0.0.1:${ports.gateway}`;
const keyLines = SIM_KEYS.map((k) => `  ${k.role.padEnd(10)} ${k.name.padEnd(9)} ${state.keys[k.role]}`).join("\n");
const chat = `curl -s -H "X-API-Key: $KEY" -H 'Content-Type: application/json' ${gw}/api/chat -d '{"model":"qwen2.5:7b","messages":[{"role":"user","content":"hi"}]}'`;
console.log(`
ollama-gate sim: two simulated AI machines on 127.0.0.1 (each boots ${bootDelayMs} ms after it gets power; DEMO_BOOT_DELAY_MS)

  big     llama3.1:70b   Ollama :${ports.bigOllama}, SSH :${ports.bigSsh}, magic packets :${ports.bigWol}/udp (asleep)
  small   qwen2.5:7b     Ollama :${ports.smallOllama}, on a smart plug at http://127.0.0.1:${ports.plug}/relay/0 (asleep)

Configuration in ${sim!.dir}/
  ${written.length > 0 ? `written: ${written.join(", ")}${written.includes(".env") ? " (.env, mode 0600, holds the machines' passwords and the keys)" : ""}` : ""}${
    kept.length > 0 ? `\n  kept from an earlier run (yours to edit; --fresh writes new ones): ${kept.join(", ")}` : ""
  }
${sim!.isNew ? `Keys (shown once; they are in ${join(sim!.dir, ".env")}):\n${keyLines}` : `Keys: in ${join(sim!.dir, ".env")} (SIM_ADMIN_KEY, SIM_USER_KEY, SIM_INFERENCE_KEY)`}

Start the gateway with it, in another terminal:
  cd ${sim!.dir} && npm start        # the gateway on ${gw}, reading the .env there
  cd ${sim!.dir} && npm run check    # what it understood, without starting anything
Then:
  Dashboard: ${gw}/ (log in with the admin key)
  KEY=<the admin key>; ${chat}
                                     # the plug switches on, small boots, the answer streams
Edit machines.yaml, keys.yaml or .env and restart the gateway: the simulated machines stay on these ports.

Ready: simulated machines listening on 127.0.0.1 ports ${ports.bigOllama}-${ports.plug}. Press Ctrl+C to stop.
`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    await stop();
    process.exit(0);
  });
}

function parse() {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: {
      dir: { type: "string" },
      "write-config": { type: "string" },
      "base-port": { type: "string" },
      fresh: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new Error(`unknown argument ${JSON.stringify(positionals[0])}`);
  const rawBase = values["base-port"] ?? process.env.SIM_BASE_PORT?.trim() ?? undefined;
  let basePort: number | undefined;
  if (rawBase !== undefined && rawBase !== "") {
    basePort = Number(rawBase);
    if (!/^\d+$/.test(rawBase) || basePort < 1024 || basePort > MAX_SIM_BASE_PORT) {
      throw new Error(`--base-port (or SIM_BASE_PORT): expected a port between 1024 and ${MAX_SIM_BASE_PORT}, such as ${DEFAULT_SIM_BASE_PORT}`);
    }
  }
  return { dir: values.dir ?? values["write-config"] ?? "sim-config", basePort, fresh: values.fresh, help: values.help };
}
