// The machines file's schema: each key, its default and what it accepts. Read by machines-file.ts, which
// interpolates ${NAME} values before and expands each machine's configuration after.
import { existsSync } from "node:fs";
import { z } from "zod";
import { didYouMean } from "../lib/did-you-mean.ts";
import { normalizeMac } from "../lib/mac.ts";
import { keepAlive } from "./env-fields.ts";
import { keepOnSchema, WINDOW_KEYS } from "./keep-on.ts";

/** A machine's name: it appears in URLs (/machines/{name}), file names and metric labels. */
export const MACHINE_NAME = /^[a-z0-9][a-z0-9-]*$/;
export const MACHINE_NAME_PROBLEM = "expected lowercase letters, digits and dashes, starting with a letter or digit";
// Numbers and flags may come from the environment (${NAME} is always text): "8080" reads as 8080, "true" as true.
const num = () => z.preprocess((v) => (typeof v === "string" && v.trim() !== "" ? Number(v) : v), z.number());
const flag = () => z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean());
const port = num().pipe(z.number().int().min(1).max(65535));
const positive = num().pipe(z.number().positive());
// What a URL's host can be: a name or an IPv4 address, or an IPv6 one (bare or in brackets).
const host = z
  .string()
  .trim()
  .min(1)
  .refine((h) => URL.canParse(`http://${h.includes(":") && !h.startsWith("[") ? `[${h}]` : h}:1/`) && !/[/?#@\s]/.test(h), {
    message: "expected a host name or an IP address (no scheme, port or path)",
  });
// A header as HTTP allows it: a token for the name, no line break in the value.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerValue = z.string().refine((v) => !/[\r\n\0]/.test(v), { message: "a header value cannot hold a line break" });

export const httpCall = z
  .strictObject({
    url: z.url({ protocol: /^https?$/, message: "expected an http:// or https:// URL" }),
    method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).default("POST"),
    headers: z
      .record(z.string(), headerValue)
      .superRefine((h, ctx) => {
        for (const name of Object.keys(h).filter((n) => !HEADER_NAME.test(n))) {
          ctx.addIssue({ code: "custom", message: "expected a header name (letters, digits, - and a few signs)", path: [name] });
        }
      })
      .default({}),
    // A map is sent as JSON (Home Assistant's webhooks take JSON); a string as it is.
    body: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  })
  .refine((h) => h.body === undefined || h.method !== "GET", { message: "a GET sends no body: use POST, or leave body out", path: ["body"] });
// What a machine draws, for the energy figures: the `on` watts also stand for waking, degraded and shutting down.
const watts = num().pipe(z.number().min(0).max(100_000));
const powerWattsSchema = z.strictObject({ on: watts, off: watts });
// A plug that measures: a GET whose JSON has the watts at `field` ("apower", "meters.0.power", "state").
const powerMeterSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, message: "expected an http:// or https:// URL" }),
  field: z
    .string()
    .trim()
    .regex(/^[^.\s]+(\.[^.\s]+)*$/, { message: "expected a dotted path to the watts, e.g. apower or meters.0.power" }),
  headers: z
    .record(z.string(), headerValue)
    .superRefine((h, ctx) => {
      for (const name of Object.keys(h).filter((n) => !HEADER_NAME.test(n))) {
        ctx.addIssue({ code: "custom", message: "expected a header name (letters, digits, - and a few signs)", path: [name] });
      }
    })
    .default({}),
});

const argv = z.array(z.string().min(1)).min(1, { message: "expected the program and its arguments, e.g. [ipmitool, power, on]" });

export type HttpCallEntry = z.infer<typeof httpCall>;

/**
 * A power method: one of `words`, or `{ http: … }`, or `{ command: […] }`. Told apart by hand rather than by
 * a union, so a mistake inside `http` or `command` is reported where it is, not as "none of the forms".
 */
function powerMethod<W extends string>(words: readonly W[], message: string) {
  const forms = { http: httpCall, command: argv } as const;
  return z.unknown().transform((v, ctx): W | { http: HttpCallEntry } | { command: string[] } => {
    if (typeof v === "string" && (words as readonly string[]).includes(v)) return v as W;
    const key = v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 ? Object.keys(v)[0] : undefined;
    if (key !== "http" && key !== "command") {
      // A slip in the word (wool) or in the form's key (htpp) gets the nearest that was meant.
      const near = typeof v === "string" ? didYouMean(v, words, 2) : key === undefined ? undefined : didYouMean(key, Object.keys(forms), 2);
      ctx.addIssue({ code: "custom", message: near ? `${message} (did you mean ${near}?)` : message });
      return z.NEVER;
    }
    const parsed = forms[key].safeParse((v as Record<string, unknown>)[key]);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: [key, ...issue.path] });
      return z.NEVER;
    }
    return key === "http" ? { http: parsed.data as HttpCallEntry } : { command: parsed.data as string[] };
  });
}

const sshSchema = z.strictObject({
  user: z.string().min(1).optional(),
  port: port.default(22),
  password: z.string().optional(),
  sudo_password: z.string().optional(),
  key_path: z
    .string()
    .refine((p) => existsSync(p), { message: "expected a readable private key file; the path does not exist" })
    .optional(),
  host_fingerprint: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, { message: "expected a SHA256:… fingerprint as printed by `ssh-keygen -lf <host key>`" })
    .optional(),
  shutdown_command: z.string().trim().min(1).default("shutdown -h now"),
});
const wolSchema = z.strictObject({ broadcast: z.ipv4().default("255.255.255.255"), port: port.default(9) });

export const machineSchema = z.strictObject({
  name: z.string().regex(MACHINE_NAME, { message: MACHINE_NAME_PROBLEM }),
  host,
  mac: z
    .string()
    .transform((v, ctx) => normalizeMac(v) ?? (ctx.addIssue({ code: "custom", message: "expected a MAC address like aa:bb:cc:dd:ee:ff" }), z.NEVER))
    .optional(),
  ollama_port: port.default(11434),
  ssh: sshSchema.optional(),
  wol: wolSchema.optional(),
  models: z.array(z.string().min(1)).default([]),
  priority: num().pipe(z.number().int()).default(0),
  power_on: powerMethod(["wol"] as const, "expected wol, { http: { url, method, headers, body } } or { command: [program, arguments…] }").default(
    "wol",
  ),
  power_off: powerMethod(
    ["ssh", "none"] as const,
    "expected ssh, none, { http: { url, method, headers, body } } or { command: [program, arguments…] }",
  ).optional(),
  power_watts: powerWattsSchema.optional(),
  power_meter: powerMeterSchema.optional(),
  // Windows that keep it on: [{ cron: "0 8 * * 1-5", for_min: 600, name: workday }].
  keep_on: keepOnSchema.default([]),
  // Per-machine overrides of the global settings.
  poll_s: positive.optional(),
  auto_wake: flag().optional(),
  wake_timeout_s: positive.optional(),
  wol_retry_s: positive.optional(),
  lease_ttl_s: num().pipe(z.number().min(0)).optional(),
  idle_shutdown_min: num().pipe(z.number().min(0)).optional(),
  idle_shutdown_any: flag().optional(),
  max_leases: num().pipe(z.number().int().min(1)).optional(),
  probe_timeout_ms: num().pipe(z.number().int().min(50).max(60000)).optional(),
  power_timeout_s: positive.optional(),
  proxy_timeout_generate_s: positive.optional(),
  proxy_timeout_pull_s: positive.optional(),
  proxy_timeout_default_s: positive.optional(),
  // Its fair share (README "A queue per machine") and the models loaded after a wake.
  max_concurrent: num().pipe(z.number().int().min(1).max(1024)).optional(),
  max_queue: num().pipe(z.number().int().min(1).max(10_000)).optional(),
  queue_timeout_s: num().pipe(z.number().positive().max(86_400)).optional(),
  spill_after_s: num().pipe(z.number().min(0)).optional(),
  preload: z.array(z.string().trim().min(1)).optional(),
  preload_keep_alive: keepAlive.optional(),
});
export type MachineEntry = z.infer<typeof machineSchema>;

export const fileSchema = z.strictObject({ machines: z.array(machineSchema).min(1, { message: "expected at least one machine" }) });

/** The keys each place in the file takes, for "did you mean …?" after a key it does not know. */
export function knownKeysAt(path: PropertyKey[]): readonly string[] | undefined {
  const [top, , field, form] = path;
  if (path.length === 0) return Object.keys(fileSchema.shape);
  if (top !== "machines") return undefined;
  if (path.length === 2) return Object.keys(machineSchema.shape);
  if (path.length === 3 && field === "ssh") return Object.keys(sshSchema.shape);
  if (path.length === 3 && field === "wol") return Object.keys(wolSchema.shape);
  if (path.length === 3 && field === "power_watts") return Object.keys(powerWattsSchema.shape);
  if (path.length === 3 && field === "power_meter") return Object.keys(powerMeterSchema.shape);
  if (path.length === 4 && (field === "power_on" || field === "power_off") && form === "http") return Object.keys(httpCall.shape);
  if (path.length === 4 && field === "keep_on") return WINDOW_KEYS;
  return undefined;
}
