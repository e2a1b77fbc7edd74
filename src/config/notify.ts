// The notification settings (WEBHOOK_URLS, WEBHOOK_EVENTS, NTFY_URL, NTFY_TOKEN): parsed beside the rest of
// the environment (config.ts spreads NOTIFY_ENV into its schema), kept apart so that schema stays readable.
// Every URL may hold a token (Discord's and Slack's carry it in the path, ntfy's topic is its password), so
// no problem line ever quotes one: they are named by their position.
import { z } from "zod";
import { EVENT_TYPES, EventType } from "../core/telemetry/event-types.ts";
import { allowedDistance, didYouMean } from "../lib/did-you-mean.ts";

/** What is sent where. Empty lists and no ntfy: nothing is sent, and nothing listens to the events. */
export interface NotifyConfig {
  /** JSON POSTs of the event (or Discord's and Slack's own format, recognised by host). Secrets. */
  webhookUrls: string[];
  /** The event types that go out, to every target. */
  events: EventType[];
  /** A topic URL; the message goes as ntfy's plain-text body with Title, Tags and Priority headers. Secret. */
  ntfyUrl?: string;
  /** Sent as `Authorization: Bearer`. Secret. */
  ntfyToken?: string;
}

/** What a person wants to hear about: the machine waking, failing to, switching state, shutting down. */
export const DEFAULT_NOTIFY_EVENTS: readonly EventType[] = [
  EventType.wakeSent,
  EventType.wakeFailed,
  EventType.wakeTimeout,
  EventType.power,
  EventType.shutdownSent,
  EventType.shutdownFailed,
  EventType.shutdownDeferred,
  EventType.leaseExpired,
];

/** The word that selects every event type in WEBHOOK_EVENTS. */
export const ALL_EVENTS = "all";

const list = (v: unknown) =>
  typeof v === "string"
    ? v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : [];

const isHttpUrl = (s: string) => {
  try {
    return ["http:", "https:"].includes(new URL(s).protocol);
  } catch {
    return false;
  }
};

const blank = (v: unknown) => v === undefined || (typeof v === "string" && v.trim() === "");

/** The fields config.ts adds to its environment schema. */
export const NOTIFY_ENV = {
  WEBHOOK_URLS: z.preprocess(
    list,
    z.array(z.string()).superRefine((urls, ctx) => {
      urls.forEach((u, i) => {
        if (!isHttpUrl(u)) ctx.addIssue({ code: "custom", message: `entry ${i + 1} is not an http:// or https:// URL` });
      });
    }),
  ),
  WEBHOOK_EVENTS: z.preprocess(
    (v) => (blank(v) ? [...DEFAULT_NOTIFY_EVENTS] : list(v)),
    z.array(z.string()).transform((types, ctx): EventType[] => {
      if (types.includes(ALL_EVENTS)) return [...EVENT_TYPES];
      const unknown = types.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
      // Event types are not secret: the wrong word is quoted, so the line says what to fix.
      for (const t of unknown) {
        // Event types are few: one slip is allowed even in a short word ("powr").
        const near = didYouMean(t, [ALL_EVENTS, ...EVENT_TYPES], Math.max(1, allowedDistance(t.length)));
        const hint = near ? ` (did you mean ${near}?)` : "";
        ctx.addIssue({ code: "custom", message: `unknown event type "${t}"${hint}; expected ${ALL_EVENTS} or some of ${EVENT_TYPES.join(", ")}` });
      }
      return [...new Set(types)] as EventType[];
    }),
  ),
  NTFY_URL: z.preprocess(
    (v) => (blank(v) ? undefined : String(v).trim()),
    z.string().refine(isHttpUrl, { message: "expected an http:// or https:// topic URL, such as https://ntfy.sh/<topic>" }).optional(),
  ),
  NTFY_TOKEN: z.preprocess((v) => (blank(v) ? undefined : String(v).trim()), z.string().optional()),
};

type NotifyEnv = z.output<z.ZodObject<typeof NOTIFY_ENV>>;

export function notifyConfig(e: NotifyEnv): NotifyConfig {
  return { webhookUrls: e.WEBHOOK_URLS, events: e.WEBHOOK_EVENTS, ntfyUrl: e.NTFY_URL, ntfyToken: e.NTFY_TOKEN };
}

/**
 * What the redactor must blank: each URL whole, and the parts that carry its token on their own (a password,
 * a path like Discord's `/api/webhooks/<id>/<token>`, a query), should an error message quote only those.
 */
export function notifySecrets(n: NotifyConfig): string[] {
  const parts = (raw: string) => {
    const u = new URL(raw);
    const rest = u.pathname + u.search;
    // A short path ("/", "/hook") is no token, and blanking it would mangle unrelated log lines.
    return [raw, u.href, u.password, rest.replace(/\//g, "").length >= 8 ? rest : ""];
  };
  const urls = [...n.webhookUrls, ...(n.ntfyUrl ? [n.ntfyUrl] : [])];
  return [...urls.flatMap(parts), n.ntfyToken ?? ""].filter((s) => s.length > 0);
}
