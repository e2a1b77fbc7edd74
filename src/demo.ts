/**
 * Try ollama-gate with no hardware: a simulated AI machine on loopback, and the gateway in front of it.
 * Nothing here can power anything off: the "machine" is an ssh2 server that only records commands.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "./app.ts";
import { parseConfig } from "./config.ts";
import { buildDeps } from "./deps.ts";
import { addressInUse, portInUseMessage, serve } from "./server.ts";
import { simEnv } from "./sim/env.ts";
import { SimulatedMachine } from "./sim/machine.ts";

const DEFAULT_PORT = 8000;
const apiKey = `demo-${randomBytes(12).toString("hex")}`;
const sudoPassword = randomBytes(9).toString("base64");
const bootDelayMs = Number(process.env.DEMO_BOOT_DELAY_MS ?? 3000);

const sim = await new SimulatedMachine({ sshUser: "ia", sshPassword: sudoPassword, sudoPassword, bootDelayMs }).start();
const statusDir = mkdtempSync(join(tmpdir(), "ollama-gate-demo-"));
const parsed = parseConfig(
  simEnv(sim, {
    API_KEYS: apiKey,
    SSH_USER: "ia",
    SSH_PASS: sudoPassword,
    STATUS_FILE: join(statusDir, "status.json"),
    PORT: process.env.PORT ?? String(DEFAULT_PORT),
    HOST: "127.0.0.1",
  }),
);
if (!parsed.ok) throw new Error(parsed.errors.join("\n"));

const deps = buildDeps(parsed.config);
const { server, note } = await listen(createApp(deps), parsed.config.listen.port);
deps.monitor.start();
const url = `http://127.0.0.1:${server.port}`;
sim.on("state", (s) => console.log(`[simulated machine] ${s}`));

const curl = (method: string, path: string) => `curl -s -X ${method} -H 'X-API-Key: ${apiKey}' ${url}${path}`;
console.log(`
ollama-gate demo — gateway at ${url}, in front of a simulated AI machine (boots ${bootDelayMs} ms after a magic packet)
${note}
  API key:   ${apiKey}
  Docs:      ${url}/docs

Try:
  ${curl("GET", "/status")}
  ${curl("POST", "/arrancar")}      # sends the magic packet; the machine boots
  ${curl("GET", "/lista_modelos")}
  ${curl("GET", "/leases")}         # why is the machine on?
  ${curl("POST", "/apagar")}        # last lease released: shutdown over SSH
  curl -s -H 'X-API-Key: ${apiKey}' ${url}/api/chat -d '{"model":"llama3.2:3b","messages":[{"role":"user","content":"hi"}]}'
                                     # wakes the machine on demand and streams the answer
  curl -sN -H 'X-API-Key: ${apiKey}' ${url}/events   # every decision, live

Status file: ${parsed.config.machine.statusFile}
Press Ctrl+C to stop.
`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    server.stop(true);
    await sim.stop();
    rmSync(statusDir, { recursive: true, force: true });
    process.exit(0);
  });
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
      await sim.stop();
      rmSync(statusDir, { recursive: true, force: true });
      process.exit(1);
    }
    const server = serve(app, { hostname: "127.0.0.1", port: 0 });
    return { server, note: `\n  Port ${port} is in use, so the demo took port ${server.port} (set PORT to choose one).\n` };
  }
}
