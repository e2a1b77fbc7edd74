// Cron expressions, read by croner. The one place its options are chosen, so that a check of a pattern
// (at configuration time) and its evaluation (at run time) read it the same way.
import { Cron } from "croner";

export type { Cron };

/**
 * A pattern: five fields (minute hour day month weekday, as in a crontab), croner's extensions (`@daily`,
 * `MON-FRI`, `L`, `#`) included. No seconds field: a run falls on a minute, never between. Read in `timezone`,
 * an IANA name; without one, in the process's time zone (TZ). Throws on a pattern it cannot read. Never runs
 * anything itself.
 */
export function parseCron(pattern: string, timezone?: string): Cron {
  return new Cron(pattern, { mode: "5-part", ...(timezone ? { timezone } : {}) });
}

const EXAMPLE = 'a cron expression such as "0 8 * * 1-5"';

/** Why `pattern` cannot be used as a schedule, or null when it can. */
export function cronProblem(pattern: string, timezone?: string): string | null {
  let cron: Cron;
  try {
    cron = parseCron(pattern, timezone);
  } catch (err) {
    // croner's own words on a count of fields speak of six and seven; here only five are read.
    const text = pattern.trim();
    if (text.startsWith("@")) return `expected ${EXAMPLE}, or @yearly, @monthly, @weekly, @daily or @hourly`;
    const fields = text === "" ? 0 : text.split(/\s+/).length;
    if (fields !== 5) return `expected ${EXAMPLE}: five fields (minute hour day month weekday), not ${fields}`;
    return `expected ${EXAMPLE} (${(err as Error).message.replace(/^Cron\w*: /, "")})`;
  }
  // croner reads an ISO date as a single run, not a pattern.
  if (cron.getPattern() === undefined) return `expected ${EXAMPLE}, not a date`;
  if (cron.nextRun() === null) return "this cron expression never matches a date";
  return null;
}

/** The latest run at or before `t` (ms since the epoch), or null. */
export function lastRunAtOrBefore(cron: Cron, t: number): number | null {
  // croner leaves out a run at the reference itself, but keeps one earlier in the same second.
  return cron.previousRuns(1, new Date(t + 1))[0]?.getTime() ?? null;
}

/** The first run after `t`, or null. */
export function nextRunAfter(cron: Cron, t: number): number | null {
  return cron.nextRun(new Date(t))?.getTime() ?? null;
}
