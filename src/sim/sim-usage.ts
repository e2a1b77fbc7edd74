import { DEFAULT_SIM_BASE_PORT } from "./sim-ports.ts";

/** What `npm run sim -- --help` prints. */
export const SIM_USAGE = `ollama-gate sim: simulated AI machines on fixed loopback ports, and a gateway configuration that points at
them, for the real gateway (npm start) to run with. Nothing real is powered.

Usage:
  npm run sim [-- options]       (bun src/sim/cli.ts) runs until Ctrl+C

Options:
  --dir DIR                      where the configuration goes (default ./sim-config); also --write-config DIR
  --base-port N                  the first of six ports (default ${DEFAULT_SIM_BASE_PORT}, or SIM_BASE_PORT): N the gateway,
                                 N+1 big's Ollama, N+2 big's SSH, N+3/udp big's Wake-on-LAN, N+4 small's Ollama,
                                 N+5 the smart plug; all on 127.0.0.1
  --fresh                        write new files, passwords and keys over those of an earlier run
  -h, --help                     this text

It writes machines.yaml, keys.yaml, .env (mode 0600: passwords and keys) and package.json into DIR, and keeps
them on later runs (they are yours to edit). Then, in another terminal: cd DIR && npm start.

Environment:
  DEMO_BOOT_DELAY_MS   how long a simulated machine takes to boot (default 1500); a longer boot, such as
                       20000, shows the wake-progress comments streaming clients get while a machine wakes

README "Point a real configuration at simulated machines" says more.
`;
