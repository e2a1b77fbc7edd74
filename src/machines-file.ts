// MACHINES_FILE: the fleet, in YAML (JSON, being YAML, too). Global settings stay in the environment and
// are the defaults each machine may override here; `${NAME}` anywhere reads NAME from the environment, so
// passwords and tokens stay in .env, and every value read so is a secret for the redactor.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import type { MachineConfig, PowerOff, PowerOn } from "./config-types.ts";
import { normalizeMac } from "./lib/mac.ts";

export type MachineDefaults = Pick<MachineConfig, "statusFile" | "probeTimeoutMs" | "powerTimeoutMs" | "proxyTimeoutsMs" | "power">;
export type MachinesFileResult = { ok: true; machines: MachineConfig[]; secrets: string[] } | { ok: false; errors: string[] };

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

const httpCall = z
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
const argv = z.array(z.string().min(1)).min(1, { message: "expected the program and its arguments, e.g. [ipmitool, power, on]" });

type HttpCallEntry = z.infer<typeof httpCall>;

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
      ctx.addIssue({ code: "custom", message });
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

const machineSchema = z.strictObject({
  name: z.string().regex(MACHINE_NAME, { message: MACHINE_NAME_PROBLEM }),
  host,
  mac: z
    .string()
    .transform((v, ctx) => normalizeMac(v) ?? (ctx.addIssue({ code: "custom", message: "expected a MAC address like aa:bb:cc:dd:ee:ff" }), z.NEVER))
    .optional(),
  ollama_port: port.default(11434),
  ssh: z
    .strictObject({
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
    })
    .optional(),
  wol: z.strictObject({ broadcast: z.ipv4().default("255.255.255.255"), port: port.default(9) }).optional(),
  models: z.array(z.string().min(1)).default([]),
  priority: num().pipe(z.number().int()).default(0),
  power_on: powerMethod(["wol"] as const, "expected wol, { http: { url, method, headers, body } } or { command: [program, arguments…] }").default(
    "wol",
  ),
  power_off: powerMethod(
    ["ssh", "none"] as const,
    "expected ssh, none, { http: { url, method, headers, body } } or { command: [program, arguments…] }",
  ).optional(),
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
});
type MachineEntry = z.infer<typeof machineSchema>;

const fileSchema = z.strictObject({ machines: z.array(machineSchema).min(1, { message: "expected at least one machine" }) });

/** Reads, interpolates, validates and expands the machines file; every problem is one line naming the machine and the key. */
export function loadMachinesFile(path: string, env: Record<string, string | undefined>, defaults: MachineDefaults): MachinesFileResult {
  let raw: unknown;
  try {
    raw = Bun.YAML.parse(readFileSync(path, "utf8"));
  } catch (err) {
    // (Bun's YAML error gives no position in the file, only in the caller: none is shown.)
    const e = err as { code?: string; message?: string };
    return { ok: false, errors: [`MACHINES_FILE: ${e.code === "ENOENT" ? `no file at ${path}` : `cannot be read as YAML: ${e.message}`}`] };
  }
  const secrets: string[] = [];
  const missing: string[] = [];
  const data = interpolate(raw, env, [], { raw, secrets, missing });
  const parsed = fileSchema.safeParse(data);
  const errors = [...missing];
  if (!parsed.success) errors.push(...parsed.error.issues.map((i) => `${where(raw, i.path)}: ${i.message}`));
  if (parsed.success) errors.push(...crossChecks(parsed.data.machines));
  if (!parsed.success || errors.length > 0) return { ok: false, errors };
  const first = parsed.data.machines[0]!.name;
  return { ok: true, machines: parsed.data.machines.map((m) => expand(m, defaults, m.name === first)), secrets };
}

interface Interpolation {
  raw: unknown;
  secrets: string[];
  missing: string[];
}

/** `${NAME}` in any string becomes the variable's value; a variable that is not set is a problem named by its key. */
function interpolate(v: unknown, env: Record<string, string | undefined>, path: PropertyKey[], out: Interpolation): unknown {
  const { raw, secrets, missing } = out;
  if (typeof v === "string") {
    return v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_all, name: string) => {
      const value = env[name];
      if (value === undefined || value === "") {
        missing.push(`${where(raw, path)}: \${${name}} is not set in the environment`);
        return "";
      }
      secrets.push(value);
      return value;
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => interpolate(x, env, [...path, i], out));
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, env, [...path, k], out)]));
  }
  return v;
}

/** "MACHINES_FILE machines[1] (small).ssh.port" from a path into the file. */
function where(raw: unknown, path: PropertyKey[]): string {
  let out = "MACHINES_FILE";
  path.forEach((p, i) => {
    if (typeof p === "number") {
      out += `[${p}]`;
      const name = path[0] === "machines" && i === 1 ? machineName(raw, p) : undefined;
      if (name) out += ` (${name})`;
    } else out += i === 0 ? ` ${String(p)}` : `.${String(p)}`;
  });
  return out;
}

const machineName = (raw: unknown, i: number): string | undefined => {
  const name = (raw as { machines?: { name?: unknown }[] } | undefined)?.machines?.[i]?.name;
  return typeof name === "string" ? name : undefined;
};

/** What one machine's schema cannot see: names unique, each power method's needs met. */
function crossChecks(machines: MachineEntry[]): string[] {
  const errors: string[] = [];
  const seen = new Set<string>();
  machines.forEach((m, i) => {
    const at = `MACHINES_FILE machines[${i}] (${m.name})`;
    if (seen.has(m.name)) errors.push(`${at}.name: another machine is already named ${m.name}`);
    seen.add(m.name);
    if (m.power_on === "wol" && !m.mac) errors.push(`${at}.mac: required when power_on is wol (the default)`);
    if (m.power_off === "ssh" && !m.ssh) errors.push(`${at}.power_off: ssh needs the machine's ssh settings`);
    if (m.ssh && !m.ssh.user) errors.push(`${at}.ssh.user: required when ssh is set`);
  });
  return errors;
}

function powerOnOf(m: MachineEntry): PowerOn {
  if (m.power_on === "wol") return { kind: "wol" };
  return "http" in m.power_on ? { kind: "http", http: httpOf(m.power_on.http) } : { kind: "command", argv: m.power_on.command };
}

function powerOffOf(m: MachineEntry): PowerOff {
  const off = m.power_off ?? (m.ssh ? "ssh" : "none");
  if (off === "ssh" || off === "none") return { kind: off };
  return "http" in off ? { kind: "http", http: httpOf(off.http) } : { kind: "command", argv: off.command };
}

function httpOf(h: z.infer<typeof httpCall>) {
  if (h.body === undefined || typeof h.body === "string") return { url: h.url, method: h.method, headers: h.headers, body: h.body };
  return { url: h.url, method: h.method, headers: { "content-type": "application/json", ...h.headers }, body: JSON.stringify(h.body) };
}

/** One machine's whole configuration: the file's values over the environment's defaults. */
function expand(m: MachineEntry, d: MachineDefaults, isDefault: boolean): MachineConfig {
  const dir = dirname(d.statusFile);
  const s = (v: number | undefined, fallbackMs: number) => (v === undefined ? fallbackMs : v * 1000);
  return {
    name: m.name,
    host: m.host,
    mac: m.mac,
    ollamaPort: m.ollama_port,
    ssh: {
      user: m.ssh?.user,
      password: m.ssh?.password,
      port: m.ssh?.port ?? 22,
      sudoPassword: m.ssh?.sudo_password ?? m.ssh?.password,
      keyPath: m.ssh?.key_path,
      hostFingerprint: m.ssh?.host_fingerprint,
    },
    shutdownCommand: m.ssh?.shutdown_command ?? "shutdown -h now",
    wol: { address: m.wol?.broadcast ?? "255.255.255.255", port: m.wol?.port ?? 9 },
    // The default machine keeps STATUS_FILE in today's format; every other has its own beside it.
    statusFile: isDefault ? d.statusFile : join(dir, `status-${m.name}.json`),
    metadataCacheFile: join(dir, isDefault ? "metadata_cache.json" : `metadata_cache-${m.name}.json`),
    probePort: m.ssh ? (m.ssh.port ?? 22) : m.ollama_port,
    models: m.models,
    priority: m.priority,
    powerOn: powerOnOf(m),
    powerOff: powerOffOf(m),
    powerTimeoutMs: s(m.power_timeout_s, d.powerTimeoutMs),
    probeTimeoutMs: m.probe_timeout_ms ?? d.probeTimeoutMs,
    proxyTimeoutsMs: {
      generate: s(m.proxy_timeout_generate_s, d.proxyTimeoutsMs.generate),
      pull: s(m.proxy_timeout_pull_s, d.proxyTimeoutsMs.pull),
      default: s(m.proxy_timeout_default_s, d.proxyTimeoutsMs.default),
    },
    power: {
      pollMs: s(m.poll_s, d.power.pollMs),
      autoWake: m.auto_wake ?? d.power.autoWake,
      wakeTimeoutMs: s(m.wake_timeout_s, d.power.wakeTimeoutMs),
      wolRetryMs: s(m.wol_retry_s, d.power.wolRetryMs),
      leaseTtlS: m.lease_ttl_s ?? d.power.leaseTtlS,
      idleShutdownMs: m.idle_shutdown_min === undefined ? d.power.idleShutdownMs : m.idle_shutdown_min * 60_000,
      idleShutdownAny: m.idle_shutdown_any ?? d.power.idleShutdownAny,
      maxLeases: m.max_leases ?? d.power.maxLeases,
    },
  };
}
