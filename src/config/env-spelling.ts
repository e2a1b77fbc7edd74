// Misspelt variables. A variable the gateway does not read is ignored, so IDLE_SHUTDOWN_MINS=1 would leave
// the default in place without a word: a name that looks like one of ours and is not one is warned about at
// start. Only names are ever quoted, never values.
import { readFileSync } from "node:fs";
import { didYouMean } from "../lib/did-you-mean.ts";

/** Read by others beside the gateway, from the same .env: Docker Compose, deploy.sh, the demo. */
export const OTHER_VARIABLES = [
  "OLLAMA_GATE_UID",
  "OLLAMA_GATE_GID",
  "REDIS_PASSWORD",
  "TRAEFIK_ENTRYPOINT_HTTP",
  "TRAEFIK_ENTRYPOINT_HTTPS",
  "MACVLAN_PARENT",
  "MACVLAN_SUBNET",
  "MACVLAN_GATEWAY",
  "MACVLAN_IP_RANGE",
  "DEMO_BOOT_DELAY_MS",
];

/**
 * Prefixes no one else's variables use: any name that starts so is a slip, near a known name or not. SSH_,
 * OLLAMA_, API_, MAX_, MACHINE_ (docker-machine's MACHINE_STORAGE_PATH), NTFY_ and the like are not here: the shell, Ollama and other tools have their own
 * (SSH_AUTH_SOCK, OLLAMA_HOST), so there only a name within a few letters of ours is warned about.
 */
const OUR_PREFIXES = [
  "OLLAMA_GATE_",
  "EQUIPO_",
  "IA_",
  "MACHINES_",
  "WOL_",
  "IDLE_",
  "PROXY_TIMEOUT_",
  "KEEP_ON_",
  "LEASE_",
  "WAKE_",
  "POLL_",
  "PROBE_",
  "POWER_",
  "SHUTDOWN_",
  "WEBHOOK_",
];

/** Other programs' names that are within a few letters of ours: never warned about. */
const FOREIGN = new Set([
  "SSH_AUTH_SOCK",
  "SSH_AGENT_PID",
  "SSH_CLIENT",
  "SSH_CONNECTION",
  "SSH_TTY",
  "SSH_ASKPASS",
  "SSH_ORIGINAL_COMMAND",
  "OLLAMA_HOST",
  "OLLAMA_MODELS",
  "OLLAMA_ORIGINS",
  "HOSTNAME",
  "HOSTTYPE",
]);
/** Whole families of the environment's own names (Bun, Node, npm, locales, the desktop). */
const FOREIGN_PREFIXES = ["BUN_", "NODE_", "npm_", "LC_", "XDG_"];

/** The ${NAME}s a configuration file reads: the user's own variables, never a slip. */
export function variablesReadBy(...files: (string | undefined)[]): Set<string> {
  const names = new Set<string>();
  for (const file of files) {
    if (!file?.trim()) continue;
    let text = "";
    try {
      text = readFileSync(file.trim(), "utf8");
    } catch {}
    for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) names.add(m[1]!);
  }
  return names;
}

/** One warning per variable that looks like one of `known` and is not one of them. */
export function unknownVariables(names: Iterable<string>, known: readonly string[], theUsers: Set<string>): string[] {
  const ours = new Set([...known, ...OTHER_VARIABLES]);
  const warnings: string[] = [];
  for (const name of [...names].sort()) {
    if (ours.has(name) || theUsers.has(name) || FOREIGN.has(name) || FOREIGN_PREFIXES.some((p) => name.startsWith(p))) continue;
    // Two slips are allowed within a family (IDLE_SHUTDOWN_MINS), one across (IDEL_…): a user's SIM_SUDO_PASS
    // is two letters from SSH_SUDO_PASS, yet no misspelling of it.
    const family = [...ours].filter((k) => k.split("_")[0] === name.toUpperCase().split("_")[0]);
    const near = didYouMean(name, family) ?? didYouMean(name, ours, 1);
    if (near) warnings.push(`unknown variable ${name} (did you mean ${near}?)`);
    else if (OUR_PREFIXES.some((p) => name.startsWith(p))) warnings.push(`unknown variable ${name} (not one of ollama-gate's: see .env.example)`);
  }
  return warnings;
}
