import { createApp } from "../app.ts";
import { parseConfig } from "../config/config.ts";
import { runSshHelper, SSH_SUBCOMMAND } from "../core/machine/ssh-process.ts";
import { buildDeps, prepareFleet, startFleet, stopReplica } from "../deps.ts";
import { addressInUse, portInUseMessage, serve } from "../http/server.ts";
import { runHealthcheck } from "./healthcheck.ts";

// `healthcheck`: the container health check. It needs only HOST and PORT, so it runs before the config is parsed.
if (process.argv[2] === "healthcheck") process.exit(await runHealthcheck(process.env));
// `ssh-shutdown`: the gateway's own helper process for one SSH shutdown; its job comes on stdin.
if (process.argv[2] === SSH_SUBCOMMAND) process.exit(await runSshHelper());

const parsed = parseConfig(process.env);
if (!parsed.ok) {
  console.error(`ollama-gate: ${parsed.heading}:`);
  for (const line of parsed.errors) console.error(`  - ${line}`);
  // A misspelt name is often why a value is missing: say so below the problems.
  for (const line of parsed.warnings) console.error(`ollama-gate: warning: ${line}`);
  process.exit(2);
}

const deps = buildDeps(parsed.config);
for (const line of parsed.warnings) deps.logger.warn(line);
const app = createApp(deps);
await prepareFleet(deps);

const { host, port } = parsed.config.listen;
let server: ReturnType<typeof serve>;
try {
  server = serve(app, { hostname: host, port });
} catch (err) {
  if (!addressInUse(err)) throw err;
  console.error(`ollama-gate: ${portInUseMessage(host, port)}`);
  process.exit(1);
}
startFleet(deps);
deps.homeAssistant?.start();
deps.logger.info("ollama-gate listening", { url: `http://${server.hostname}:${server.port}`, version: deps.version });

// SIGHUP, or a change to the file, re-reads KEYS_FILE: a key is revoked or added without dropping running streams.
process.on("SIGHUP", () => void deps.keys.reload());
deps.keys.watch();

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    deps.logger.info("stopping", { signal });
    server.stop();
    // What the last second added is written before the process goes.
    deps.usageStore.close();
    if (!deps.homeAssistant && !deps.replicas) process.exit(0);
    // Home Assistant is told the machines are unavailable (within a second, whatever the broker does); among
    // replicas the usage still pending is written and each lock given up, so another replica leads at once.
    const stops = [deps.homeAssistant?.stop(), stopReplica(deps)];
    void Promise.race([Promise.allSettled(stops), Bun.sleep(3000)]).finally(() => process.exit(0));
  });
}
