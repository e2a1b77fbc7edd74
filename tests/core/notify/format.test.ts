import { describe, expect, test } from "bun:test";
import { describeEvent, render, TargetKind, webhookKind } from "../../../src/core/notify/format.ts";
import { EVENT_TYPES, type EventType, type GateEvent } from "../../../src/core/telemetry/events.ts";

const event = (type: EventType, data: Record<string, unknown> = {}, machine = "big"): GateEvent => ({
  id: 7,
  type,
  at: "2026-11-25T10:00:00.000Z",
  machine,
  data,
});

describe("the format a webhook URL gets (decided from the URL alone; nothing is sent)", () => {
  test.each([
    ["https://discord.com/api/webhooks/123/abcdef", TargetKind.discord],
    ["https://discordapp.com/api/webhooks/123/abcdef", TargetKind.discord],
    ["https://ptb.discord.com/api/webhooks/123/abcdef", TargetKind.discord],
    ["https://DISCORD.com/api/webhooks/123/abcdef?wait=true", TargetKind.discord],
    ["https://discord.com/channels/123", TargetKind.json],
    ["https://notdiscord.com/api/webhooks/123/abc", TargetKind.json],
    ["https://hooks.slack.com/services/T000/B000/XXXX", TargetKind.slack],
    ["https://slack.com/services/T000/B000/XXXX", TargetKind.json],
    ["http://127.0.0.1:9000/hook", TargetKind.json],
    ["https://home.example/api/webhook/ollama", TargetKind.json],
  ])("%s → %s", (url, kind) => {
    expect(webhookKind(url)).toBe(kind);
  });
});

describe("what a notification says", () => {
  test("every event type has a title and a sentence naming the machine", () => {
    for (const type of EVENT_TYPES) {
      const n = describeEvent(event(type));
      expect(n.title.length).toBeGreaterThan(0);
      expect(n.text).toContain("big");
    }
  });

  test.each([
    ["big is awake", event("power", { from: "waking", to: "on", reason: "Ollama answers" }), "big is awake (was waking: Ollama answers)."],
    ["big is asleep", event("power", { from: "shutting_down", to: "off", reason: "the machine went dark" }), undefined],
    ["big is asleep", event("power", { from: null, to: "off", reason: "first probe" }), "big is asleep (first probe)."],
    ["Waking big", event("wake_sent", { attempt: 2 }), "Waking big: power-on sent (attempt 2)."],
    [
      "Waking big failed",
      event("wake_failed", { attempt: 1, via: "http", detail: "the power URL answered 500" }),
      "Waking big failed: the power URL answered 500",
    ],
    ["big did not wake", event("wake_timeout", { waited_s: 180, packets: 4 }), "big did not wake within 180 s (4 attempts)."],
    ["Shutting big down", event("shutdown_sent", { reason: "idle" }), "Shutting big down: it was idle."],
    ["Shutting big down failed", event("shutdown_failed", { reason: "release", detail: "ssh: timeout" }), "Shutting big down failed: ssh: timeout"],
    [
      "big will shut down later",
      event("shutdown_deferred", { reason: "release", in_flight: 1, booting: false }),
      "big will shut down once 1 running request ends.",
    ],
    ["big will shut down later", event("shutdown_deferred", { reason: "release", in_flight: 0, booting: true }), "big will shut down once it is up."],
    ["A lease on big expired", event("lease_expired", { lease_id: "x", holder: "nightly-job" }), "The lease of nightly-job on big expired."],
  ])("%s", (title, e, text) => {
    const n = describeEvent(e);
    expect(n.title).toBe(title);
    if (text) expect(n.text).toBe(text);
  });

  test("what went wrong is high priority; the rest keeps the receiver's default", () => {
    expect(describeEvent(event("wake_failed", { detail: "x" })).priority).toBe(4);
    expect(describeEvent(event("wake_timeout", { waited_s: 1, packets: 1 })).priority).toBe(4);
    expect(describeEvent(event("shutdown_failed", { detail: "x" })).priority).toBe(4);
    expect(describeEvent(event("power", { from: "waking", to: "on" })).priority).toBeUndefined();
  });

  test("a long error detail is cut, so a chat service does not refuse the message", () => {
    const n = describeEvent(event("wake_failed", { detail: "x".repeat(5000) }));
    expect(n.text.length).toBe(1000);
    expect(n.text.endsWith("…")).toBe(true);
  });
});

describe("each receiver's format", () => {
  const awake = event("power", { from: "waking", to: "on", reason: "Ollama answers" });

  test("a plain webhook gets the event as /events sends it", () => {
    const out = render(TargetKind.json, awake);
    expect(out.headers["Content-Type"]).toBe("application/json");
    expect(JSON.parse(out.body)).toEqual(awake);
  });

  test("Discord gets {content}, with mentions switched off", () => {
    const out = render(TargetKind.discord, event("lease_expired", { holder: "@everyone" }));
    expect(JSON.parse(out.body)).toEqual({ content: "The lease of @everyone on big expired.", allowed_mentions: { parse: [] } });
  });

  test("Slack gets {text}, its markup characters escaped", () => {
    const out = render(TargetKind.slack, event("wake_failed", { detail: "<b> & co" }));
    expect(JSON.parse(out.body)).toEqual({ text: "Waking big failed: &lt;b&gt; &amp; co" });
  });

  test("ntfy gets the sentence as the body, and Title, Tags, Priority and the token as headers", () => {
    const out = render(TargetKind.ntfy, event("wake_failed", { detail: "the plug answered 500" }), "tk_abc");
    expect(out.body).toBe("Waking big failed: the plug answered 500");
    expect(out.headers).toEqual({
      "Content-Type": "text/plain; charset=utf-8",
      Title: "Waking big failed",
      Tags: "warning",
      Priority: "4",
      Authorization: "Bearer tk_abc",
    });
    const plain = render(TargetKind.ntfy, awake);
    expect(plain.headers.Priority).toBeUndefined();
    expect(plain.headers.Authorization).toBeUndefined();
    expect(plain.headers.Tags).toBe("white_check_mark");
  });
});
