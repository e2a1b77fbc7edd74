// `check` (npm run check, `bun src/index.ts check`): reads the configuration exactly as a start would — the
// environment, .env (Bun reads it before any line here runs), MACHINES_FILE and KEYS_FILE — and says what is
// wrong or what it understood. It builds nothing that acts: no port is bound, no probe, packet or
// notification is sent, so it is safe beside a running gateway and on a machine that cannot reach the others.

import { parseConfig } from "../config/config.ts";
import { secretsOf } from "../config/view.ts";
import { makeRedactor } from "../core/telemetry/logger.ts";
import { summaryLines } from "./check-summary.ts";

/** Prints every problem (exit code 2) or the summary (exit code 0). */
export function runCheck(env: Record<string, string | undefined>): number {
  const parsed = parseConfig(env);
  if (!parsed.ok) {
    console.error(`ollama-gate check: ${parsed.heading}:`);
    for (const line of parsed.errors) console.error(`  - ${line}`);
    // A misspelt name is often why a value is missing: said below the problems, as a start says it.
    for (const line of parsed.warnings) console.error(`ollama-gate check: warning: ${line}`);
    return 2;
  }
  // Every line is built to hold no secret; a value read through ${NAME} may still sit where a name was
  // expected (a host, a user), and is blanked out as the logger would.
  const redact = makeRedactor(secretsOf(parsed.config));
  console.log("ollama-gate check: the configuration is good. The gateway would start with:\n");
  for (const line of summaryLines(parsed.config, env)) console.log(redact(line));
  if (parsed.warnings.length > 0) console.log(`\nWarnings (a start logs them too):\n${parsed.warnings.map((w) => `  - ${w}`).join("\n")}`);
  console.log("\nNothing was started or sent. Start it with `npm start` (or `bun src/index.ts`).");
  return 0;
}
