// KEYS_FILE: named API keys with roles and scopes, in YAML (or JSON). `${NAME}` reads the environment, so the
// file itself need hold no usable key; `key_sha256` entries hold only the key's hash.
import { z } from "zod";
import { sha256 } from "../lib/sha256.ts";
import { placeIn, readListFile } from "./env-interpolate.ts";
import { type ApiKeyConfig, ROLES } from "./types.ts";

/**
 * The placeholder keys of the example files (.env.example, examples/). Such a key works like any other, and
 * anyone who has read the examples knows it: a gateway that holds one refuses to start.
 */
export const EXAMPLE_KEYS = ["change-me-to-a-long-random-key", "change-me-to-another-long-random-key"];
const EXAMPLE_HASHES = new Set(EXAMPLE_KEYS.map((k) => sha256(k).toString("hex")));
/** A key left as the example's placeholder, or one like it. */
export const isExampleKey = (key: string) => /change-?me/i.test(key) || EXAMPLE_HASHES.has(sha256(key).toString("hex"));
export const EXAMPLE_KEY_FIX = "generate a key of your own (openssl rand -hex 24)";

/** Where the keys file's problems are explained. */
export const keysFileHeading = (path: string) => `invalid keys file ${path} (see "Named keys" in README.md)`;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const whole = (what: string) =>
  z
    .number({ message: `expected a whole number of ${what}` })
    .int({ message: `expected a whole number of ${what}` })
    .min(1, { message: "expected at least 1" });

const entry = z
  .object({
    name: z.string().regex(NAME, { message: "expected letters, digits, '.', '_' or '-' (at most 64), shown in logs and metrics" }),
    key: z.string().min(8, { message: "expected a key of at least 8 characters" }).optional(),
    key_sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, { message: "expected the key's SHA-256 as 64 hex digits (`printf %s KEY | sha256sum`)" })
      .optional(),
    role: z.enum(ROLES, { message: `expected one of ${ROLES.join(", ")}` }),
    machines: z.array(z.string()).min(1, { message: "expected at least one machine name, or no `machines` (all)" }).optional(),
    models: z.array(z.string().min(1)).min(1, { message: "expected at least one pattern, or no `models` (all)" }).optional(),
    user_header: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, { message: "expected a header name, like X-OpenWebUI-User-Email" })
      .optional(),
    // Its share (README "Limits and quotas"): each one absent is no limit.
    rate_per_min: whole("requests per minute").optional(),
    max_concurrent: whole("generations at once").optional(),
    tokens_per_day: whole("tokens").optional(),
    tokens_per_month: whole("tokens").optional(),
    priority: z
      .number({ message: "expected a whole number, higher first (default 0)" })
      .int({ message: "expected a whole number" })
      .min(-1000)
      .max(1000)
      .optional(),
  })
  .strict()
  .refine((e) => (e.key === undefined) !== (e.key_sha256 === undefined), { message: "expected exactly one of `key` and `key_sha256`" });

const fileSchema = z.object({ keys: z.array(entry).min(1, { message: "expected at least one key" }) }).strict();
const ENTRY_KEYS = Object.keys(entry.shape);
const keysAt = (path: PropertyKey[]) => (path.length === 0 ? ["keys"] : path.length === 2 ? ENTRY_KEYS : undefined);

export type KeysFileResult = { ok: true; keys: ApiKeyConfig[]; secrets: string[] } | { ok: false; errors: string[] };

/** Reads and checks the keys file; each problem is one line naming the key and the field. */
export function loadKeysFile(path: string, env: Record<string, string | undefined>): KeysFileResult {
  const file = readListFile(path, "KEYS_FILE", env, fileSchema, where, keysAt);
  if (!file.ok) return file;
  const { raw, data, secrets, errors } = file;
  if (data) {
    const seen = new Set<string>();
    for (const [i, k] of data.keys.entries()) {
      if (seen.has(k.name)) errors.push(`${where(raw, ["keys", i, "name"])}: the name ${k.name} is used twice`);
      seen.add(k.name);
      const placeholder = placeholderProblem(raw, i, k);
      if (placeholder) errors.push(placeholder);
    }
  }
  if (!data || errors.length > 0) return { ok: false, errors };
  const keys = data.keys.map(
    (k): ApiKeyConfig => ({
      name: k.name,
      role: k.role,
      machines: k.machines,
      models: k.models,
      userHeader: k.user_header,
      limits: limitsOf(k),
      secret: k.key !== undefined ? { kind: "plain", key: k.key } : { kind: "sha256", sha256: k.key_sha256!.toLowerCase() },
    }),
  );
  return { ok: true, keys, secrets: [...secrets, ...keys.flatMap((k) => (k.secret.kind === "plain" ? [k.secret.key] : []))] };
}

/** A key that is still the example's placeholder, named by the variable it came from when it did (the line to change). */
function placeholderProblem(raw: unknown, i: number, k: { key?: string; key_sha256?: string }): string | undefined {
  const field = k.key !== undefined ? "key" : "key_sha256";
  if (k.key !== undefined ? !isExampleKey(k.key) : !EXAMPLE_HASHES.has(k.key_sha256!.toLowerCase())) return undefined;
  const written = (raw as { keys: Record<string, unknown>[] }).keys[i]?.[field];
  const from = typeof written === "string" ? /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(written)?.[1] : undefined;
  return `${where(raw, ["keys", i, field])}: ${from ? `${from} holds` : "this is"} the placeholder from the example file; ${EXAMPLE_KEY_FIX}`;
}

/** The name the gateway's own requests (a preload after a wake) are counted under in usage: no key can be named so (NAME). */
export const GATEWAY_KEY = "(gateway)";

/** The names API_KEYS gives its keys, in order; no KEYS_FILE entry may take one. */
const ENV_NAME = /^api-key-\d+$/i;

export const NO_KEY = "API_KEYS: required: at least one API key (comma-separated list), or KEYS_FILE";

export type KeysResult = { ok: true; keys: ApiKeyConfig[]; plain: string[] } | { ok: false; errors: string[] };

/**
 * Every key: those of API_KEYS (admins, named api-key-1, api-key-2, … in order), then KEYS_FILE's. At least
 * one is needed, the names must differ, and the machines a key names must exist.
 */
export function allKeys(
  apiKeys: string[],
  file: string | undefined,
  env: Record<string, string | undefined>,
  machines: { name: string }[],
  /** Whether usage accounting is on: a token quota counts what it counts. */
  usageOn = true,
): KeysResult {
  const fromEnv = apiKeys.map((key, i): ApiKeyConfig => ({ name: `api-key-${i + 1}`, role: "admin", secret: { kind: "plain", key } }));
  const loaded = file ? loadKeysFile(file, env) : { ok: true as const, keys: [], secrets: [] };
  if (!loaded.ok) return loaded;
  const keys = [...fromEnv, ...loaded.keys];
  if (keys.length === 0) return { ok: false, errors: [NO_KEY] };
  const errors: string[] = [];
  const names = new Set(machines.map((m) => m.name));
  const hashes = new Map<string, string>();
  for (const k of keys) {
    const hash = k.secret.kind === "sha256" ? k.secret.sha256 : sha256(k.secret.key).toString("hex");
    // The same key twice would be whichever entry comes first: an admin where an inference key was meant.
    if (hashes.has(hash)) errors.push(`KEYS_FILE (${k.name}): the same key as ${hashes.get(hash)}; give each entry its own key`);
    hashes.set(hash, k.name);
  }
  for (const k of loaded.keys) {
    if (ENV_NAME.test(k.name)) errors.push(`KEYS_FILE (${k.name}).name: names like api-key-1 are those API_KEYS gives its keys; choose another`);
    for (const m of k.machines ?? []) if (!names.has(m)) errors.push(`KEYS_FILE (${k.name}).machines: no machine is named ${m}`);
    const quota = k.limits?.tokensPerDay !== undefined ? "tokens_per_day" : k.limits?.tokensPerMonth !== undefined ? "tokens_per_month" : undefined;
    if (quota && !usageOn) errors.push(`KEYS_FILE (${k.name}).${quota}: a token quota counts what usage accounting counts, and USAGE_DB is off`);
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, keys, plain: [...apiKeys, ...loaded.secrets] };
}

/** "KEYS_FILE keys[1] (family-chat).role" from a path into the file. */
const where = (raw: unknown, path: PropertyKey[]) => placeIn("KEYS_FILE", "keys", raw, path);

/** A key's limits, or none when it sets none (its requests then pay for no check). */
function limitsOf(k: { rate_per_min?: number; max_concurrent?: number; tokens_per_day?: number; tokens_per_month?: number; priority?: number }) {
  const limits = {
    ratePerMin: k.rate_per_min,
    maxConcurrent: k.max_concurrent,
    tokensPerDay: k.tokens_per_day,
    tokensPerMonth: k.tokens_per_month,
    priority: k.priority ?? 0,
  };
  return Object.values(limits).some((v) => v !== undefined && v !== 0) ? limits : undefined;
}
