// Webhooks and ntfy through the whole gateway: real events from a simulated machine, delivered to
// receivers on loopback.
import { afterEach, describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/config.ts";
import { type FleetHarness, type Harness, json, nextEvent, startFleetHarness, startHarness } from "../helpers.ts";
import { type Receiver, startReceiver } from "../notify-receiver.ts";

let h: Harness | FleetHarness | undefined;
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) r.release();
  await h?.close();
  h = undefined;
  for (const r of receivers) r.stop();
});

function receiver(): Receiver {
  const r = startReceiver();
  receivers.push(r);
  return r;
}

const types = (r: Receiver) => r.received.map((x) => JSON.parse(x.body)).map((e) => (e.type === "power" ? `power:${e.data.to}` : e.type));

describe("webhooks", () => {
  test("a wake reaches the webhook as /events shows it; by default, lease events stay out", async () => {
    const r = receiver();
    h = await startHarness({ env: { WEBHOOK_URLS: `${r.url}/hook`, MACHINE_NAME: "big" } });
    await h.deps.monitor.tick(); // the first probe: the machine is off
    await h.api("/arrancar", { method: "POST" });
    await r.waitUntil((x) => JSON.parse(x.body).data.to === "on");
    // lease_taken came before the wake: had it been sent, it would have arrived second.
    expect(types(r)).toEqual(["power:off", "power:waking", "wake_sent", "power:on"]);
    const sent = r.received.map((x) => JSON.parse(x.body));
    const { events } = await json(h.api("/events/history"));
    expect(sent).toEqual(events.filter((e: { type: string }) => ["power", "wake_sent"].includes(e.type)));
    expect(sent[2]).toMatchObject({ type: "wake_sent", machine: "big", data: { attempt: 1 } });
    expect(r.received[0]).toMatchObject({ method: "POST", path: "/hook", headers: { "content-type": "application/json" } });
  });

  test("WEBHOOK_EVENTS chooses what goes out", async () => {
    const r = receiver();
    h = await startHarness({ on: true, env: { WEBHOOK_URLS: `${r.url}/hook`, WEBHOOK_EVENTS: "lease_taken, permanent_on" } });
    const { lease_id } = await json(h.api("/arrancar", { method: "POST" }));
    const dark = nextEvent(h.deps, (e) => e.type === "power" && e.data.to === "off");
    await h.api(`/apagar?lease_id=${lease_id}`, { method: "POST" });
    await dark;
    await h.api("/permanent_on_enable", { method: "POST" });
    await r.waitFor(2);
    // Sent in order: the release, the shutdown and its power changes in between were left out.
    expect(types(r)).toEqual(["lease_taken", "permanent_on"]);
  });

  test("a receiver that holds the request blocks neither requests nor the power loop", async () => {
    const r = receiver();
    r.hold();
    h = await startHarness({ env: { WEBHOOK_URLS: `${r.url}/hook` } });
    const up = nextEvent(h.deps, (e) => e.type === "power" && e.data.to === "on");
    const started = performance.now();
    const wake = await h.api("/arrancar", { method: "POST" });
    expect(wake.status).toBe(200);
    await r.waitFor(1);
    const status = await h.api("/status");
    expect(status.status).toBe(200);
    // The machine woke and was seen awake while the receiver still had the first event unanswered.
    await up;
    expect((await json(h.api("/status"))).logical_on).toBe(true);
    expect(r.holding).toBe(1);
    expect(r.received).toHaveLength(1);
    expect(performance.now() - started).toBeLessThan(3000);
    r.release();
    await r.waitUntil((x) => JSON.parse(x.body).data.to === "on");
  });
});

describe("ntfy", () => {
  test("a wake is told in ntfy's format: title, tags, the sentence as the body, the token as Bearer", async () => {
    const r = receiver();
    h = await startHarness({ env: { NTFY_URL: `${r.url}/gpu-box`, NTFY_TOKEN: "tk_ntfy_secret_token", MACHINE_NAME: "big" } });
    await h.deps.monitor.tick();
    await h.api("/arrancar", { method: "POST" });
    const awake = await r.waitUntil((x) => x.headers.title === "big is awake");
    expect(awake).toMatchObject({
      method: "POST",
      path: "/gpu-box",
      headers: { tags: "white_check_mark", authorization: "Bearer tk_ntfy_secret_token", "content-type": "text/plain; charset=utf-8" },
    });
    expect(awake.body).toStartWith("big is awake (was waking");
    expect(r.received.map((x) => x.headers.title)).toEqual(["big is asleep", "big is waking up", "Waking big", "big is awake"]);
  });

  test("a wake that fails is told at high priority, with the reason", async () => {
    const r = receiver();
    const fleet = await startFleetHarness({ env: { NTFY_URL: `${r.url}/gpu-box` } });
    h = fleet;
    fleet.plug.failNext(500);
    await h.api("/machines/small/wake", { method: "POST" });
    const failed = await r.waitUntil((x) => x.headers.title === "Waking small failed");
    expect(failed.headers).toMatchObject({ priority: "4", tags: "warning" });
    expect(failed.body).toBe("Waking small failed: the power URL answered 500");
  });
});

describe("secrets", () => {
  test("URLs and the ntfy token never reach a log line, /debug or /metrics; targets are named by number", async () => {
    const hook = receiver();
    const ntfy = receiver();
    hook.answer(400);
    ntfy.answer(403);
    const hookUrl = `${hook.url}/hooks/SECRET-HOOK-TOKEN-123`;
    h = await startHarness({
      on: true,
      env: { WEBHOOK_URLS: hookUrl, NTFY_URL: `${ntfy.url}/secret-topic-abc`, NTFY_TOKEN: "tk_never_logged_42", WEBHOOK_EVENTS: "lease_taken" },
    });
    await h.api("/arrancar", { method: "POST" });
    const hookLine = await h.logLine((l) => l.includes("notification not delivered") && l.includes('"webhook 1"'));
    const ntfyLine = await h.logLine((l) => l.includes("notification not delivered") && l.includes('"ntfy"'));
    expect(JSON.parse(hookLine)).toMatchObject({ target: "webhook 1", kind: "json", reason: "status", detail: "HTTP 400" });
    expect(JSON.parse(ntfyLine)).toMatchObject({ target: "ntfy", kind: "ntfy", detail: "HTTP 403" });
    const debug = await (await h.api("/debug")).text();
    const metrics = await (await h.api("/metrics")).text();
    expect(JSON.parse(debug).config).toMatchObject({
      WEBHOOK_URLS_COUNT: 1,
      NTFY_URL_SET: true,
      NTFY_TOKEN_SET: true,
      WEBHOOK_EVENTS: ["lease_taken"],
    });
    expect(metrics).toContain('ollama_gate_webhook_failures_total{kind="json",reason="status",target="webhook 1"} 1');
    expect(metrics).toContain('ollama_gate_webhook_failures_total{kind="ntfy",reason="status",target="ntfy"} 1');
    for (const text of [h.logs.join("\n"), debug, metrics]) {
      for (const secret of ["SECRET-HOOK-TOKEN-123", "secret-topic-abc", "tk_never_logged_42", hook.url, ntfy.url])
        expect(text).not.toContain(secret);
    }
  });
});

describe("configuration", () => {
  const base = { EQUIPO_IA: "127.0.0.1", IA_MAC: "aa:bb:cc:dd:ee:ff", API_KEYS: "a-long-enough-key" };
  const errors = (env: Record<string, string>) => {
    const parsed = parseConfig({ ...base, ...env });
    return parsed.ok ? [] : parsed.errors;
  };

  test("by default: no targets; wakes, power changes, shutdowns and expired leases", () => {
    const parsed = parseConfig(base);
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    expect(parsed.config.notify).toEqual({
      webhookUrls: [],
      events: ["wake_sent", "wake_failed", "wake_timeout", "power", "shutdown_sent", "shutdown_failed", "shutdown_deferred", "lease_expired"],
      ntfyUrl: undefined,
      ntfyToken: undefined,
    });
  });

  test("an unknown event type is one line that names it", () => {
    const lines = errors({ WEBHOOK_EVENTS: "wake_sent,wake_sen" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith(
      'WEBHOOK_EVENTS: unknown event type "wake_sen" (did you mean wake_sent?); expected all or some of power, wake_sent, ',
    );
  });

  test("`all` sends every type", () => {
    const parsed = parseConfig({ ...base, WEBHOOK_EVENTS: "all" });
    expect(parsed.ok && parsed.config.notify.events).toContain("requests");
  });

  test("a URL that is not http(s) is named by its position, never quoted", () => {
    expect(errors({ WEBHOOK_URLS: "http://127.0.0.1:1/a, ftp://secret-token@x/y" })).toEqual([
      "WEBHOOK_URLS: entry 2 is not an http:// or https:// URL",
    ]);
    expect(errors({ NTFY_URL: "not a url secret-topic" })).toEqual([
      "NTFY_URL: expected an http:// or https:// topic URL, such as https://ntfy.sh/<topic>",
    ]);
  });
});
