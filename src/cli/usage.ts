// What `--help` prints for the gateway and the demo, and how each refuses a word it does not know.

export const GATEWAY_USAGE = `ollama-gate: an always-on gateway that wakes Ollama machines, switches them off when idle, and proxies their API.

Usage:
  bun src/index.ts [start]       start the gateway (npm start)
  bun src/index.ts check         read the configuration as a start would and print every problem, or a summary
                                 of what it understood; exit 0 (good) or 2 (problems), listening on nothing
                                 and sending nothing (npm run check)
  bun src/index.ts healthcheck   ask the gateway running at HOST:PORT whether it is up; exit 0 or 1
  bun src/index.ts --help        this text (also -h)

Configuration: environment variables, and .env in the working directory (Bun reads it by itself). Every
variable is in .env.example and README "Configuration"; several machines: MACHINES_FILE (README "Several
machines"); keys with roles: KEYS_FILE (README "Named keys").

No hardware? npm run demo (README "Try it in two commands"); npm run sim writes a configuration for simulated
machines that this gateway starts with (README "Point a real configuration at simulated machines").
`;

export const DEMO_USAGE = `ollama-gate demo: the gateway in front of two simulated AI machines on loopback. Nothing real is powered.

Usage:
  npm run demo                   (bun src/sim/demo.ts) runs until Ctrl+C; prints the URL, a key and curl lines to try
  bun src/sim/demo.ts --help         this text (also -h)

Environment:
  PORT                 the gateway's port (default 8000; when 8000 is taken, any free one, and it says so)
  DEMO_BOOT_DELAY_MS   how long a simulated machine takes to boot (default 1500). A longer boot, such as
                       DEMO_BOOT_DELAY_MS=20000, shows the wake-progress comments streaming clients get while
                       a machine wakes (README "Wake progress for streaming clients")

To start the real gateway with a configuration of your own against simulated machines: npm run sim
(README "Point a real configuration at simulated machines").
`;

/** Prints the usage: to stdout when asked for (exit 0), to stderr after a word it does not know (exit 2). */
export function usageExit(usage: string, problem?: string): number {
  if (problem === undefined) {
    process.stdout.write(usage);
    return 0;
  }
  process.stderr.write(`${problem}\n\n${usage}`);
  return 2;
}

const HELP = ["-h", "--help", "help"];

/** For a program that takes no argument but --help: the exit code when it must stop now, else undefined. */
export function helpOnly(args: string[], usage: string, program: string): number | undefined {
  if (args.length === 0) return undefined;
  if (args.length === 1 && HELP.includes(args[0]!)) return usageExit(usage);
  return usageExit(usage, `${program}: unknown argument ${JSON.stringify(args[0])}`);
}

/** The gateway's command line: the command to run, or the exit code when it stops here (help, or a wrong word). */
export function gatewayCommand(args: string[], passThrough: string[]): { run: "start" | "check" | "other" } | { exit: number } {
  const [first, ...rest] = args;
  if (first === undefined || first === "start") return rest.length === 0 ? { run: "start" } : { exit: wrong(rest[0]!) };
  if (HELP.includes(first)) return { exit: usageExit(GATEWAY_USAGE) };
  if (first === "check") {
    if (rest.length === 0) return { run: "check" };
    return rest.length === 1 && HELP.includes(rest[0]!) ? { exit: usageExit(GATEWAY_USAGE) } : { exit: wrong(rest[0]!) };
  }
  if (passThrough.includes(first)) return { run: "other" };
  return { exit: wrong(first) };
}

const wrong = (word: string) => usageExit(GATEWAY_USAGE, `ollama-gate: unknown command or option ${JSON.stringify(word)}`);
