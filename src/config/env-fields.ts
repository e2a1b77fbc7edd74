// The kinds of value the environment holds, as zod schemas: each blank value counts as unset, and each
// problem is one line saying what was expected.
import { z } from "zod";

// Empty values in .env files ("SSH_PASS=") mean "not set", not "set to nothing".
export const blankToUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);
export const opt = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema.optional());
export const withDefault = <T extends z.ZodType>(schema: T, fallback: z.util.NoUndefined<z.output<T>>) =>
  z.preprocess(blankToUndefined, schema.default(fallback));

export const port = (what: string, min = 1) =>
  z.coerce
    .number({ message: `expected a ${what} port number` })
    .int({ message: `expected a whole ${what} port number` })
    .min(min, { message: `expected a ${what} port between ${min} and 65535` })
    .max(65535, { message: `expected a ${what} port between ${min} and 65535` });

export const seconds = (fallback: number) =>
  withDefault(z.coerce.number({ message: "expected a number of seconds" }).positive({ message: "expected more than 0 seconds" }), fallback);

export const flag = (fallback: boolean) =>
  z.preprocess(
    (v) => (typeof v === "string" && v.trim() !== "" ? v.trim().toLowerCase() : undefined),
    z
      .enum(["true", "false", "1", "0", "yes", "no", "on", "off"], { message: "expected true or false" })
      .default(fallback ? "true" : "false")
      .transform((v) => ["true", "1", "yes", "on"].includes(v)),
  );

/** The word that turns a setting off where a path or a value is expected (USAGE_DB=off). */
export const OFF_WORD = "off";
/** Whether a setting says OFF_WORD, in any letter case. */
export const saysOff = (v: string | undefined): boolean => v?.trim().toLowerCase() === OFF_WORD;

export const minutesOrOff = (fallback: number) =>
  withDefault(z.coerce.number({ message: "expected minutes (0 = off)" }).min(0, { message: "expected 0 or more minutes" }), fallback);

/** A whole number from 1 to `max`, named by what it counts. */
export const count = (what: string, max: number) =>
  z.coerce
    .number({ message: `expected a whole number of ${what}` })
    .int({ message: `expected a whole number of ${what}` })
    .min(1, { message: `expected at least 1` })
    .max(max, { message: `expected at most ${max}` });

/** Ollama's keep_alive: a duration such as 5m, 1h30m or 300s, a number of seconds, or -1 (for ever). */
export const KEEP_ALIVE = /^(-1|\d+|(\d+(\.\d+)?(ms|s|m|h))+)$/;
export const keepAlive = z
  .string()
  .trim()
  .regex(KEEP_ALIVE, { message: "expected a duration as Ollama reads keep_alive: 5m, 1h, 300 (seconds) or -1 (for ever)" });
