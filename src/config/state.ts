// The shared state's settings (STATE_URL, STATE_PREFIX, REPLICA_NAME, LEADER_TTL_S): several gateways that share
// one truth through Redis or Valkey (core/replica/). Parsed beside the rest of the environment (env-schema.ts
// spreads STATE_ENV into its schema). STATE_URL may carry the store's password: no problem line ever quotes it.
import { hostname } from "node:os";
import { z } from "zod";
import type { StateConfig } from "./types.ts";

export type { StateConfig };

const blank = (v: unknown) => v === undefined || (typeof v === "string" && v.trim() === "");
const trimmed = (v: unknown) => (blank(v) ? undefined : String(v).trim());

const isStoreUrl = (s: string) => {
  try {
    const u = new URL(s);
    return (u.protocol === "redis:" || u.protocol === "rediss:") && u.hostname !== "";
  } catch {
    return false;
  }
};

// A replica's name shows in events, /debug and the locks: short, and nothing a log line or a key would mangle.
const REPLICA = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const defaultName = () =>
  hostname()
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, 63) || "gateway";

/** The fields config.ts adds to its environment schema. */
export const STATE_ENV = {
  STATE_URL: z.preprocess(
    trimmed,
    z.string().refine(isStoreUrl, { message: "expected a redis:// or rediss:// URL such as redis://:password@redis:6379/0" }).optional(),
  ),
  STATE_PREFIX: z.preprocess(
    trimmed,
    z
      .string()
      .max(64, { message: "expected at most 64 characters" })
      .regex(/^[^\s*?[\]]+$/, { message: "expected a key prefix without spaces or * ? [ ], such as ollama-gate:" })
      .default("ollama-gate:"),
  ),
  REPLICA_NAME: z.preprocess(
    trimmed,
    z.string().regex(REPLICA, { message: "expected letters, digits, '.', '_' or '-' (at most 63), such as gateway-a" }).optional(),
  ),
  LEADER_TTL_S: z.preprocess(
    trimmed,
    z.coerce
      .number({ message: "expected seconds, a number such as 5" })
      .min(1, { message: "expected at least 1 second" })
      .max(60, { message: "expected at most 60 seconds" })
      .default(5),
  ),
};

type StateEnv = z.output<z.ZodObject<typeof STATE_ENV>>;

/** null when STATE_URL is unset: one gateway, its state in files. */
export function stateConfig(e: StateEnv): StateConfig | null {
  if (!e.STATE_URL) return null;
  return { url: e.STATE_URL, prefix: e.STATE_PREFIX, replica: e.REPLICA_NAME ?? defaultName(), leaderTtlMs: e.LEADER_TTL_S * 1000 };
}

/** What the redactor must blank: the URL whole, as given and as parsed, and its password in either spelling. */
export function stateSecrets(s: StateConfig | null | undefined): string[] {
  if (!s) return [];
  const u = new URL(s.url);
  let decoded = u.password;
  try {
    decoded = decodeURIComponent(u.password);
  } catch {}
  return [s.url, u.href, u.password, decoded].filter((x) => x.length > 0);
}
