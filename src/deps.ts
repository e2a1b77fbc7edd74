import pkg from "../package.json" with { type: "json" };
import { secretsOf, type Config } from "./config.ts";
import { createLogger, makeRedactor, type Logger } from "./core/logger.ts";
import { Machine, realMachineIo, type MachineIo } from "./core/machine.ts";
import { Power } from "./core/power.ts";
import { OllamaProxy } from "./core/proxy.ts";
import { StatusStore } from "./core/status-store.ts";

/** Everything the HTTP app needs, built once and handed in, so tests can build one against the simulator. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  redact: (text: string) => string;
  store: StatusStore;
  machine: Machine;
  power: Power;
  proxy: OllamaProxy;
  version: string;
}

export interface DepsOptions {
  logger?: Logger;
  io?: Partial<MachineIo>;
  now?: () => Date;
}

export function buildDeps(config: Config, opts: DepsOptions = {}): AppDeps {
  const secrets = secretsOf(config);
  const logger = opts.logger ?? createLogger({ secrets });
  const store = new StatusStore({ file: config.statusFile, logger, now: opts.now });
  const machine = new Machine(config, logger, { ...realMachineIo, ...opts.io });
  const power = new Power(machine, store, logger);
  const proxy = new OllamaProxy({
    baseUrl: machine.ollamaUrl,
    timeoutsMs: config.proxyTimeoutsMs,
    machineAnswers: async () => (await machine.probeHost()).ok,
    logger,
  });
  return { config, logger, redact: makeRedactor(secrets), store, machine, power, proxy, version: pkg.version };
}
