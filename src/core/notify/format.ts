// What a notification says, and in which format each kind of receiver wants it. Pure functions of an event
// and a URL, so the format choice is tested without sending anything to Discord or Slack.
import { PowerState, ShutdownReason } from "../power/states.ts";
import { EventType, type GateEvent } from "../telemetry/events.ts";

/** The kinds of receiver: a plain JSON webhook (the event as /events sends it), two chat services, ntfy. */
export const TargetKind = { json: "json", discord: "discord", slack: "slack", ntfy: "ntfy" } as const;
export type TargetKind = (typeof TargetKind)[keyof typeof TargetKind];

/** Which format a WEBHOOK_URLS entry gets: Discord's and Slack's incoming webhooks are known by their host. */
export function webhookKind(url: string): TargetKind {
  const u = new URL(url);
  const host = u.hostname.toLowerCase();
  const under = (domain: string) => host === domain || host.endsWith(`.${domain}`);
  if ((under("discord.com") || under("discordapp.com")) && u.pathname.startsWith("/api/webhooks/")) return TargetKind.discord;
  if (host === "hooks.slack.com") return TargetKind.slack;
  return TargetKind.json;
}

/** One event told to a person: a headline, a sentence, ntfy's tags (emoji short codes) and priority (1-5). */
export interface Notice {
  title: string;
  text: string;
  tags: string[];
  /** Unset: the receiver's default. 4 (high) for what went wrong. */
  priority?: number;
}

const HIGH = 4;
/** Chat services cap a message (Discord at 2000 characters); an error's detail is the only long part. */
const MAX_TEXT = 1000;

const POWER: Record<PowerState, { is: string; tags: string[]; priority?: number }> = {
  [PowerState.on]: { is: "is awake", tags: ["white_check_mark"] },
  [PowerState.off]: { is: "is asleep", tags: ["zzz"] },
  [PowerState.waking]: { is: "is waking up", tags: ["hourglass_flowing_sand"] },
  [PowerState.degraded]: { is: "is up but Ollama does not answer", tags: ["warning"], priority: HIGH },
  [PowerState.shuttingDown]: { is: "is shutting down", tags: ["arrow_down"] },
};

const WHY_SHUTDOWN: Record<ShutdownReason, string> = {
  [ShutdownReason.release]: "the last lease was released",
  [ShutdownReason.idle]: "it was idle",
  [ShutdownReason.forced]: "someone asked for it at once",
  [ShutdownReason.leaseExpiry]: "the last lease expired",
};

type Data = Record<string, unknown>;
const str = (v: unknown, fallback = "?") => (v === undefined || v === null || v === "" ? fallback : String(v));
const plural = (n: unknown, one: string, many: string) => `${str(n)} ${Number(n) === 1 ? one : many}`;

/** What a wake did, by the power method that acted. */
const WAKE_DONE: Record<string, string> = { wol: "magic packet sent", http: "plug switched on", command: "power-on command run" };

/** Every event type has its sentence: a new type does not compile until it is given one. */
const SENTENCES: Record<EventType, (m: string, d: Data) => Notice> = {
  [EventType.power]: (m, d) => {
    const p = POWER[d.to as PowerState] ?? { is: `is ${str(d.to)}`, tags: [] };
    // No `from` at the first probe after a start: the state was not known yet.
    const why = d.from ? `was ${str(d.from)}: ${str(d.reason)}` : str(d.reason);
    return { title: `${m} ${p.is}`, text: `${m} ${p.is} (${why}).`, tags: p.tags, priority: p.priority };
  },
  [EventType.wakeSent]: (m, d) => ({
    title: `Waking ${m}`,
    text: `Waking ${m}: ${WAKE_DONE[str(d.via)] ?? "power-on sent"} (attempt ${str(d.attempt)}).`,
    tags: ["alarm_clock"],
  }),
  [EventType.wakeFailed]: (m, d) => ({
    title: `Waking ${m} failed`,
    text: `Waking ${m} failed: ${str(d.detail)}`,
    tags: ["warning"],
    priority: HIGH,
  }),
  [EventType.wakeTimeout]: (m, d) => ({
    title: `${m} did not wake`,
    text: `${m} did not wake within ${str(d.waited_s)} s (${plural(d.packets, "attempt", "attempts")}).`,
    tags: ["warning"],
    priority: HIGH,
  }),
  [EventType.shutdownSent]: (m, d) => ({
    title: `Shutting ${m} down`,
    text: `Shutting ${m} down: ${WHY_SHUTDOWN[d.reason as ShutdownReason] ?? str(d.reason)}.`,
    tags: ["arrow_down"],
  }),
  [EventType.shutdownFailed]: (m, d) => ({
    title: `Shutting ${m} down failed`,
    text: `Shutting ${m} down failed: ${str(d.detail)}`,
    tags: ["warning"],
    priority: HIGH,
  }),
  [EventType.shutdownDeferred]: (m, d) => ({
    title: `${m} will shut down later`,
    text: `${m} will shut down ${d.booting ? "once it is up" : `once ${plural(d.in_flight, "running request ends", "running requests end")}`}.`,
    tags: ["hourglass"],
  }),
  [EventType.leaseTaken]: (m, d) => ({ title: `${m} is held`, text: `${str(d.holder, "A client")} took a lease on ${m}.`, tags: ["pushpin"] }),
  [EventType.leaseReleased]: (m, d) => ({
    title: `${m} was released`,
    text: `${str(d.holder, "A client")} released its lease on ${m}.`,
    tags: ["pushpin"],
  }),
  [EventType.leaseExpired]: (m, d) => ({
    title: `A lease on ${m} expired`,
    text: `The lease of ${str(d.holder, "a client")} on ${m} expired.`,
    tags: ["hourglass"],
  }),
  [EventType.leasesCleared]: (m, d) => ({
    title: `Leases on ${m} dropped`,
    text: `${plural(d.count, "lease", "leases")} on ${m} dropped by ${str(d.by)}.`,
    tags: ["pushpin"],
  }),
  [EventType.permanentOn]: (m, d) =>
    d.enabled
      ? { title: `${m} is kept on`, text: `${m} is kept on: releases will not shut it down.`, tags: ["lock"] }
      : { title: `${m} may shut down again`, text: `${m} is no longer kept on.`, tags: ["unlock"] },
  [EventType.requests]: (m, d) =>
    d.running
      ? { title: `${m} is busy`, text: `${m} is running ${plural(d.in_flight, "request", "requests")}.`, tags: ["gear"] }
      : { title: `${m} is idle`, text: `${m} has no running requests.`, tags: ["gear"] },
  [EventType.preload]: (m, d) =>
    d.ok
      ? { title: `A model is loaded on ${m}`, text: `${m} loaded ${str(d.model)} after its wake (${str(d.seconds)} s).`, tags: ["fire"] }
      : { title: `Loading on ${m} failed`, text: `${m} could not load ${str(d.model)} after its wake: ${str(d.error)}`, tags: ["warning"] },
};

export function describeEvent(e: GateEvent): Notice {
  const n = SENTENCES[e.type]?.(e.machine, e.data) ?? { title: `${e.machine}: ${e.type}`, text: `${e.machine}: ${e.type}`, tags: [] };
  return n.text.length > MAX_TEXT ? { ...n, text: n.text.slice(0, MAX_TEXT - 1) + "…" } : n;
}

/** What goes over the wire to one receiver: headers and body of a POST. */
export interface Outgoing {
  headers: Record<string, string>;
  body: string;
}

const JSON_TYPE = { "Content-Type": "application/json" };

/** The request for one event, in the receiver's format; `token` is ntfy's access token. */
export function render(kind: TargetKind, e: GateEvent, token?: string): Outgoing {
  if (kind === TargetKind.json) return { headers: JSON_TYPE, body: JSON.stringify(e) };
  const n = describeEvent(e);
  // A holder's name or an error's detail could otherwise ping a whole Discord server.
  if (kind === TargetKind.discord) return { headers: JSON_TYPE, body: JSON.stringify({ content: n.text, allowed_mentions: { parse: [] } }) };
  if (kind === TargetKind.slack) return { headers: JSON_TYPE, body: JSON.stringify({ text: slackEscape(n.text) }) };
  // Titles hold machine names (lowercase ASCII) and fixed words, as a header must; names a client chose only go in the body.
  const headers: Record<string, string> = { "Content-Type": "text/plain; charset=utf-8", Title: n.title };
  if (n.tags.length > 0) headers.Tags = n.tags.join(",");
  if (n.priority !== undefined) headers.Priority = String(n.priority);
  if (token) headers.Authorization = `Bearer ${token}`;
  return { headers, body: n.text };
}

/** Slack reads &, < and > as markup; its documentation asks for these three escapes. */
const slackEscape = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
