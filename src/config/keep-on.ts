// Keep-on schedules as the configuration takes them: `keep_on` of a machine in MACHINES_FILE, or
// KEEP_ON_SCHEDULE for the one machine of the environment. Each window is checked here, so a bad cron,
// a missing name or a duration of nothing stops the gateway before it listens, one line per problem.
import { z } from "zod";
import { cronProblem } from "../lib/cron.ts";
import { hintUnknownKeys } from "../lib/did-you-mean.ts";
import type { KeepOnWindow } from "./types.ts";

/** A window's name: part of its lease's holder (`schedule:<name>`), shown in /leases, logs and events. */
const WINDOW_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const LONGEST_MIN = 366 * 24 * 60;
// Numbers may come from the environment (${NAME} in the machines file is always text): "600" reads as 600.
const number = (message: string) => z.preprocess((v) => (typeof v === "string" && v.trim() !== "" ? Number(v) : v), z.number({ message }));

const windowObject = z.strictObject({
  name: z
    .string({ message: "required: the window's name, e.g. workday (its lease's holder is schedule:<name>)" })
    .regex(WINDOW_NAME, { message: "expected letters, digits, dots, dashes and underscores (at most 64), starting with a letter or digit" }),
  cron: z.string({ message: 'required: when the window starts, as a cron expression such as "0 8 * * 1-5"' }).superRefine((pattern, ctx) => {
    const problem = cronProblem(pattern);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  // Whole minutes, as the cron's finest step: a fraction would make windows of seconds.
  for_min: number("required: how many minutes the window lasts, e.g. 600").pipe(
    z.number().superRefine((min, ctx) => {
      if (!Number.isInteger(min) || min < 1) ctx.addIssue({ code: "custom", message: "expected a whole number of minutes, at least 1" });
      else if (min > LONGEST_MIN) ctx.addIssue({ code: "custom", message: `expected at most ${LONGEST_MIN} minutes (a year)` });
    }),
  ),
});
const windowSchema = windowObject.transform((w): KeepOnWindow => ({ name: w.name, cron: w.cron, forMin: w.for_min }));
/** The keys a window takes, for "did you mean …?". */
export const WINDOW_KEYS: readonly string[] = Object.keys(windowObject.shape);

/** `keep_on` of one machine: a list of windows, each name once. */
export const keepOnSchema = z.array(windowSchema).superRefine((windows, ctx) => {
  const seen = new Set<string>();
  windows.forEach((w, i) => {
    if (seen.has(w.name)) ctx.addIssue({ code: "custom", message: `another window is already named ${w.name}`, path: [i, "name"] });
    seen.add(w.name);
  });
});

const EXAMPLE = '[{cron: "0 8 * * 1-5", for_min: 600, name: workday}]';

/**
 * TZ, the zone the crons are read in. Bun reads a name it does not know as UTC, without a word, and every window
 * would fire hours off: a name is checked here. A leading ":" is POSIX's and Bun's too; an offset such as +01:00
 * or a POSIX rule is not read by Bun, nor a name with spaces around it, so they are refused (Etc/GMT-1 is UTC+1).
 */
export const timeZoneEnv = z.string().superRefine((tz, ctx) => {
  let zone: string | undefined;
  try {
    zone = new Intl.DateTimeFormat("en", { timeZone: tz.replace(/^:/, "") }).resolvedOptions().timeZone;
  } catch {}
  if (zone === undefined || /^[+-]/.test(zone)) ctx.addIssue({ code: "custom", message: "expected an IANA time zone such as Europe/Madrid or UTC" });
});

/**
 * KEEP_ON_SCHEDULE: the same windows in one line, as JSON or YAML's flow form (a cron holds `*`, so quote it
 * in YAML); one window may go without the brackets. Each problem is one line naming the window and its key.
 */
export const keepOnEnv = z.string().transform((text, ctx): KeepOnWindow[] => {
  let raw: unknown;
  try {
    raw = Bun.YAML.parse(text);
  } catch {
    ctx.addIssue({ code: "custom", message: `expected a list of windows in JSON or YAML, e.g. ${EXAMPLE}` });
    return z.NEVER;
  }
  const list = Array.isArray(raw) ? raw : [raw];
  const parsed = keepOnSchema.safeParse(list);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    const [index, ...key] = issue.path;
    if (typeof index !== "number") {
      ctx.addIssue({ code: "custom", message: `expected a list of windows, e.g. ${EXAMPLE}` });
      continue;
    }
    const name = (list[index] as { name?: unknown } | null)?.name;
    const label = `[${index}]${typeof name === "string" ? ` (${name})` : ""}${key.map((k) => `.${String(k)}`).join("")}`;
    const message =
      issue.code === "invalid_type" && key.length === 0
        ? `expected a window, e.g. ${EXAMPLE.slice(1, -1)}`
        : hintUnknownKeys(issue.message, key.length === 0 ? WINDOW_KEYS : undefined);
    ctx.addIssue({ code: "custom", message: `${label}: ${message}` });
  }
  return z.NEVER;
});
