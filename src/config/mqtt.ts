// The MQTT settings (MQTT_URL, MQTT_PREFIX, MQTT_DISCOVERY_PREFIX, MQTT_ROLE): Home Assistant finds the machines
// through its MQTT discovery (core/homeassistant/). Parsed beside the rest of the environment (env-schema.ts
// spreads MQTT_ENV into its schema). MQTT_URL carries the broker's password: no problem line ever quotes it.
import { z } from "zod";
import { type MqttConfig, ROLES, Role } from "./types.ts";

export type { MqttConfig };

const blank = (v: unknown) => v === undefined || (typeof v === "string" && v.trim() === "");
const trimmed = (v: unknown) => (blank(v) ? undefined : String(v).trim());

const isBrokerUrl = (s: string) => {
  try {
    const u = new URL(s);
    return (u.protocol === "mqtt:" || u.protocol === "mqtts:") && u.hostname !== "";
  } catch {
    return false;
  }
};

// A topic's levels: no wildcard, no blank level, no leading or trailing slash (MQTT forbids the wildcards in a
// published topic, and an empty level is a typo that would put the machines somewhere nobody looks).
const TOPIC_PREFIX = /^[^\s+#/]+(\/[^\s+#/]+)*$/;
const topicPrefix = (fallback: string) =>
  z.preprocess(
    trimmed,
    z
      .string()
      .max(100, { message: "expected at most 100 characters" })
      .regex(TOPIC_PREFIX, { message: "expected topic levels separated by /, without spaces, + or #, such as ollama-gate" })
      .default(fallback),
  );

/** The fields config.ts adds to its environment schema. */
export const MQTT_ENV = {
  MQTT_URL: z.preprocess(
    trimmed,
    z.string().refine(isBrokerUrl, { message: "expected an mqtt:// or mqtts:// URL such as mqtt://user:password@host:1883" }).optional(),
  ),
  MQTT_PREFIX: topicPrefix("ollama-gate"),
  MQTT_DISCOVERY_PREFIX: topicPrefix("homeassistant"),
  MQTT_ROLE: z.preprocess(
    (v) => (blank(v) ? undefined : String(v).trim().toLowerCase()),
    z.enum(ROLES as [Role, ...Role[]], { message: `expected one of ${ROLES.join(", ")}` }).default(Role.admin),
  ),
};

type MqttEnv = z.output<z.ZodObject<typeof MQTT_ENV>>;

/** null when MQTT_URL is unset: no bridge, no connection. */
export function mqttConfig(e: MqttEnv): MqttConfig | null {
  if (!e.MQTT_URL) return null;
  return { url: e.MQTT_URL, prefix: e.MQTT_PREFIX, discoveryPrefix: e.MQTT_DISCOVERY_PREFIX, role: e.MQTT_ROLE };
}

/** What the redactor must blank: the URL whole, as given and as parsed, and its password in either spelling. */
export function mqttSecrets(m: MqttConfig | null | undefined): string[] {
  if (!m) return [];
  const u = new URL(m.url);
  let decoded = u.password;
  try {
    decoded = decodeURIComponent(u.password);
  } catch {}
  return [m.url, u.href, u.password, decoded].filter((s) => s.length > 0);
}
