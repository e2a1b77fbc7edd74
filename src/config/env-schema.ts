// Every variable of the environment (.env) the gateway reads, its default and what it accepts: one zod schema.
// config.ts turns it into the typed Config.
import { existsSync } from "node:fs";
import { z } from "zod";
import { normalizeMac } from "../lib/mac.ts";
import { count, flag, keepAlive, minutesOrOff, opt, port, seconds, withDefault } from "./env-fields.ts";
import { keepOnEnv, timeZoneEnv } from "./keep-on.ts";
import { EXAMPLE_KEY_FIX, isExampleKey } from "./keys-file.ts";
import { MACHINE_NAME, MACHINE_NAME_PROBLEM } from "./machines-file.ts";
import { MQTT_ENV } from "./mqtt.ts";
import { NOTIFY_ENV } from "./notify.ts";
import { STATE_ENV } from "./state.ts";

const MAC_PROBLEM = "expected a MAC address like aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabbccddeeff";

const wattsEnv = z.coerce
  .number({ message: "expected watts, a number such as 250" })
  .min(0, { message: "expected 0 or more watts" })
  .max(100_000, { message: "expected at most 100000 watts" });

export const envSchema = z.object({
  // WEBHOOK_URLS, WEBHOOK_EVENTS, NTFY_URL, NTFY_TOKEN.
  ...NOTIFY_ENV,
  // MQTT_URL, MQTT_PREFIX, MQTT_DISCOVERY_PREFIX, MQTT_ROLE: Home Assistant through MQTT discovery.
  ...MQTT_ENV,
  // STATE_URL, STATE_PREFIX, REPLICA_NAME, LEADER_TTL_S: several gateways sharing one truth through Redis.
  ...STATE_ENV,
  // Required, unless MACHINES_FILE lists the machines (checked in parseConfig, with the same messages).
  EQUIPO_IA: opt(z.string().trim()),
  IA_MAC: opt(
    z.string().transform((v, ctx) => {
      const mac = normalizeMac(v);
      if (!mac) {
        ctx.addIssue({ code: "custom", message: MAC_PROBLEM });
        return z.NEVER;
      }
      return mac;
    }),
  ),
  MACHINE_NAME: withDefault(z.string().trim().regex(MACHINE_NAME, { message: MACHINE_NAME_PROBLEM }), "default"),
  MACHINES_FILE: opt(z.string().trim()),
  POWER_TIMEOUT_S: seconds(10),
  OLLAMA_PORT: withDefault(port("Ollama"), 11434),
  SSH_USER: opt(z.string()),
  SSH_PASS: opt(z.string()),
  SSH_PORT: withDefault(port("SSH"), 22),
  SSH_SUDO_PASS: opt(z.string()),
  SSH_KEY_PATH: opt(z.string().refine((p) => existsSync(p), { message: "expected a readable private key file; the path does not exist" })),
  SSH_HOST_FINGERPRINT: opt(
    z
      .string()
      .trim()
      .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, {
        message: "expected a SHA256:… fingerprint as printed by `ssh-keygen -lf <host key>`",
      }),
  ),
  SHUTDOWN_COMMAND: withDefault(z.string().trim().min(1), "shutdown -h now"),
  WOL_BROADCAST: withDefault(z.ipv4({ message: "expected an IPv4 broadcast address such as 192.168.1.255" }), "255.255.255.255"),
  WOL_PORT: withDefault(port("Wake-on-LAN"), 9),
  KEEP_ON_SCHEDULE: opt(keepOnEnv),
  TZ: opt(timeZoneEnv),
  API_KEYS: z.preprocess(
    (v) =>
      typeof v === "string"
        ? v
            .split(",")
            .map((k) => k.trim())
            .filter(Boolean)
        : [],
    z
      .array(z.string())
      // At least one key, here or in KEYS_FILE: checked with the file (keys-file.ts).
      // A short key can be guessed, and could not be told apart from ordinary text when blanking secrets out of logs.
      .refine((keys) => keys.every((k) => k.length >= 8), { message: "every API key must be at least 8 characters long" })
      // The example's placeholder works like any key, and everyone who read the example knows it.
      .superRefine((keys, ctx) => {
        keys.forEach((k, i) => {
          if (isExampleKey(k)) ctx.addIssue({ code: "custom", message: `key ${i + 1} is the placeholder from the example file; ${EXAMPLE_KEY_FIX}` });
        });
      }),
  ),
  KEYS_FILE: opt(z.string().trim()),
  SUBDOMINIO: opt(z.string()),
  // 0 lets the system pick a free port, which tests and side-by-side runs use.
  PORT: withDefault(port("listening", 0), 8000),
  HOST: withDefault(z.string().trim().min(1), "0.0.0.0"),
  STATUS_FILE: withDefault(z.string().trim().min(1), "status/status.json"),
  // Usage accounting's SQLite file; absent: usage.db beside the status file; "off" keeps no usage at all.
  USAGE_DB: opt(z.string().trim().min(1)),
  USAGE_RETENTION_DAYS: withDefault(
    z.coerce
      .number({ message: "expected a whole number of days" })
      .int({ message: "expected a whole number of days" })
      .min(1, { message: "expected at least 1 day" })
      .max(36_500, { message: "expected at most 36500 days" }),
    400,
  ),
  PROBE_TIMEOUT_MS: withDefault(
    z.coerce
      .number({ message: "expected milliseconds" })
      .int()
      .min(50, { message: "expected at least 50 ms" })
      .max(60000, { message: "expected at most 60000 ms" }),
    2000,
  ),
  PROXY_TIMEOUT_GENERATE_S: seconds(300),
  PROXY_TIMEOUT_PULL_S: seconds(3600),
  PROXY_TIMEOUT_DEFAULT_S: seconds(30),
  POLL_S: seconds(30),
  AUTO_WAKE: flag(true),
  WAKE_TIMEOUT_S: seconds(180),
  WOL_RETRY_S: seconds(20),
  LEASE_TTL_S: withDefault(z.coerce.number({ message: "expected seconds (0 = no expiry)" }).min(0, { message: "expected 0 or more seconds" }), 0),
  // On by default: clients that wake a machine through /api/* or /v1/* never release it, and a machine left on
  // costs far more than a wake. Leases (/arrancar) still hold it, and a machine switched on by hand is left alone.
  IDLE_SHUTDOWN_MIN: minutesOrOff(30),
  IDLE_SHUTDOWN_ANY: flag(false),
  METRICS_PUBLIC: flag(false),
  MAX_BODY_MB: withDefault(
    z.coerce
      .number({ message: "expected megabytes" })
      .positive({ message: "expected more than 0 MB" })
      .max(1024, { message: "expected at most 1024 MB" }),
    8,
  ),
  // What the one machine draws (a machines file says power_watts per machine); both or neither: no made-up default.
  POWER_WATTS_ON: opt(wattsEnv),
  POWER_WATTS_OFF: opt(wattsEnv),
  ENERGY_PRICE_PER_KWH: opt(
    z.coerce.number({ message: "expected a price per kWh, a decimal such as 0.25" }).min(0, { message: "expected 0 or more" }),
  ),
  ENERGY_CURRENCY: withDefault(
    z
      .string()
      .trim()
      .regex(/^\S{1,8}$/, { message: "expected a currency code such as EUR (no spaces, at most 8 characters)" }),
    "EUR",
  ),
  // The fair share of a machine (README "A queue per machine"): unset MAX_CONCURRENT, no queue.
  MAX_CONCURRENT: opt(count("generations", 1024)),
  MAX_QUEUE: withDefault(count("waiting requests", 10_000), 64),
  // At most a day: a timer of more than about 24.8 days would fire at once.
  QUEUE_TIMEOUT_S: withDefault(
    z.coerce
      .number({ message: "expected a number of seconds" })
      .positive({ message: "expected more than 0 seconds" })
      .max(86_400, { message: "expected at most 86400 seconds (a day)" }),
    300,
  ),
  // Models loaded right after a wake (comma-separated), with Ollama's keep_alive for them.
  PRELOAD_MODELS: z.preprocess(
    (v) =>
      typeof v === "string"
        ? v
            .split(",")
            .map((m) => m.trim())
            .filter(Boolean)
        : [],
    z.array(z.string()),
  ),
  PRELOAD_KEEP_ALIVE: withDefault(keepAlive, "5m"),
  MAX_LEASES: withDefault(
    z.coerce
      .number({ message: "expected a whole number of leases" })
      .int({ message: "expected a whole number of leases" })
      .min(1, { message: "expected at least 1 lease" })
      .max(100_000, { message: "expected at most 100000 leases" }),
    1024,
  ),
});

export type Env = z.output<typeof envSchema>;
