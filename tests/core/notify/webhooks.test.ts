import { afterEach, describe, expect, test } from "bun:test";
import { TargetKind } from "../../../src/core/notify/format.ts";
import { Notifier, type NotifierOptions, notifyTargets, type Target } from "../../../src/core/notify/webhooks.ts";
import type { EventType, GateEvent } from "../../../src/core/telemetry/events.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { Counter } from "../../../src/lib/prometheus.ts";
import { type Receiver, startReceiver } from "../../notify-receiver.ts";

const receivers: Receiver[] = [];
afterEach(() => {
  for (const r of receivers.splice(0)) {
    r.release();
    r.stop();
  }
});

function receiver(): Receiver {
  const r = startReceiver();
  receivers.push(r);
  return r;
}

let nextId = 1;
const event = (type: EventType = "wake_sent", data: Record<string, unknown> = { attempt: 1 }): GateEvent => ({
  id: nextId++,
  type,
  at: "2026-11-25T10:00:00.000Z",
  machine: "big",
  data,
});

/** A notifier whose waits between attempts return at once and are recorded. */
function notifier(targets: Target[], opts: Partial<NotifierOptions> = {}) {
  const logger = memoryLogger();
  const failures = new Counter("ollama_gate_webhook_failures_total", "test");
  const waits: number[] = [];
  const sleep = async (ms: number) => void waits.push(ms);
  const n = new Notifier({ targets, types: ["wake_sent", "power"], logger, failures, sleep, ...opts });
  return { n, logger, failures, waits };
}

const hook = (r: Receiver, label = "webhook 1"): Target => ({ label, kind: TargetKind.json, url: `${r.url}/hook` });

describe("delivery", () => {
  test("a 500 is retried after a wait, and the next success ends it: nothing logged, nothing counted", async () => {
    const r = receiver();
    r.answer(500);
    const { n, logger, failures, waits } = notifier([hook(r)]);
    const e = event();
    n.push(e);
    await n.idle();
    expect(r.received.map((x) => JSON.parse(x.body))).toEqual([e, e]);
    expect(waits).toEqual([1000]);
    expect(failures.render()).toBe(
      "# HELP ollama_gate_webhook_failures_total test\n# TYPE ollama_gate_webhook_failures_total counter\nollama_gate_webhook_failures_total 0",
    );
    expect(logger.lines).toEqual([]);
  });

  test("a redirect is a failure, not followed: fetch would turn the POST into a GET without the event", async () => {
    const r = receiver();
    r.answer(301);
    const { n, logger, failures } = notifier([hook(r)]);
    n.push(event());
    await n.idle();
    expect(r.received).toHaveLength(1);
    expect(failures.get({ target: "webhook 1", kind: "json", reason: "status" })).toBe(1);
    expect(JSON.parse(logger.lines[0]!).detail).toContain("HTTP 301: a redirect");
  });

  test("a 5xx each time: 3 retries with doubling waits, then one log line and the failure counted by target, never by URL", async () => {
    const r = receiver();
    r.answer(503, 503, 503, 503);
    const { n, logger, failures, waits } = notifier([hook(r)]);
    n.push(event());
    await n.idle();
    expect(r.received).toHaveLength(4);
    expect(waits).toEqual([1000, 2000, 4000]);
    expect(failures.get({ target: "webhook 1", kind: "json", reason: "status" })).toBe(1);
    expect(failures.render()).not.toContain("127.0.0.1");
    expect(logger.lines).toHaveLength(1);
    const line = JSON.parse(logger.lines[0]!);
    expect(line).toMatchObject({ level: "warn", target: "webhook 1", event: "wake_sent", reason: "status", attempts: 4, detail: "HTTP 503" });
    expect(logger.lines[0]).not.toContain(r.url);
  });

  test("a 4xx is not retried: the receiver refuses the message, and will again", async () => {
    const r = receiver();
    r.answer(400);
    const { n, failures, waits } = notifier([hook(r)]);
    n.push(event());
    await n.idle();
    expect(r.received).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(failures.get({ target: "webhook 1", kind: "json", reason: "status" })).toBe(1);
  });

  test("nobody listening: a network failure, retried, then counted", async () => {
    const dead = receiver();
    const url = `${dead.url}/hook`;
    dead.stop();
    const { n, failures, waits, logger } = notifier([{ label: "webhook 1", kind: TargetKind.json, url }]);
    n.push(event());
    await n.idle();
    expect(waits).toEqual([1000, 2000, 4000]);
    expect(failures.get({ target: "webhook 1", kind: "json", reason: "network" })).toBe(1);
    expect(logger.lines.join("\n")).not.toContain(url);
  });

  test("a receiver that never answers is given up on after the time limit, and holds up no other receiver", async () => {
    const slow = receiver();
    const fast = receiver();
    slow.hold();
    const { n, failures } = notifier([hook(slow, "webhook 1"), hook(fast, "webhook 2")], { timeoutMs: 100, retries: 1 });
    n.push(event());
    // The other receiver has it while the first still holds the request.
    await fast.waitFor(1);
    expect(slow.holding).toBe(1);
    await n.idle();
    expect(slow.received).toHaveLength(2);
    expect(failures.get({ target: "webhook 1", kind: "json", reason: "timeout" })).toBe(1);
    expect(failures.get({ target: "webhook 2", kind: "json", reason: "timeout" })).toBe(0);
  });

  test("only the chosen event types go out, in the order they happened", async () => {
    const r = receiver();
    const { n } = notifier([hook(r)]);
    n.push(event("lease_taken", {}));
    n.push(event("wake_sent"));
    n.push(event("power", { to: "on" }));
    await n.idle();
    expect(r.received.map((x) => JSON.parse(x.body).type)).toEqual(["wake_sent", "power"]);
  });
});

describe("a bounded queue", () => {
  test("when it is full the oldest waiting event is dropped, with a log line and a count", async () => {
    const r = receiver();
    r.hold();
    const { n, failures, logger } = notifier([hook(r)], { queueSize: 2 });
    const events = [event(), event(), event(), event()];
    n.push(events[0]!);
    await r.waitFor(1); // the first is on its way; the queue holds the next two, and the fourth pushes out the second
    for (const e of events.slice(1)) n.push(e);
    expect(failures.get({ target: "webhook 1", kind: "json", reason: "queue_full" })).toBe(1);
    // One line for the burst, not one per dropped event; another once the queue has drained.
    expect(logger.lines.map((l) => JSON.parse(l).msg)).toEqual(["notification queue full: dropping the oldest events until it drains"]);
    r.release();
    await n.idle();
    expect(r.received.map((x) => JSON.parse(x.body).id)).toEqual([events[0]!.id, events[2]!.id, events[3]!.id]);
    expect(JSON.parse(logger.lines.at(-1)!)).toMatchObject({ msg: "notification queue drained", dropped: 1 });
  });

  test("a receiver that holds every request holds nothing else: pushes return, the queue stays bounded", async () => {
    const r = receiver();
    r.hold();
    const { n, failures } = notifier([hook(r)], { queueSize: 10 });
    for (let i = 0; i < 1000; i++) n.push(event()); // synchronous: nothing here waits on the receiver
    await r.waitFor(1);
    // One on its way, ten waiting: every other event was dropped, not kept.
    expect(failures.get({ target: "webhook 1", kind: "json", reason: "queue_full" })).toBe(989);
    r.release();
    await n.idle();
    expect(r.received).toHaveLength(11);
  });
});

describe("targets", () => {
  test("webhooks are numbered from 1 and ntfy comes last; each gets its kind", () => {
    const targets = notifyTargets({
      webhookUrls: ["http://127.0.0.1:1/a", "https://hooks.slack.com/services/T/B/X"],
      events: [],
      ntfyUrl: "http://127.0.0.1:1/topic",
      ntfyToken: "tk",
    });
    expect(targets.map((t) => [t.label, t.kind, t.token])).toEqual([
      ["webhook 1", "json", undefined],
      ["webhook 2", "slack", undefined],
      ["ntfy", "ntfy", "tk"],
    ]);
  });

  test("with none, nothing listens", () => {
    expect(new Notifier({ targets: [], types: [], logger: memoryLogger(), failures: new Counter("x", "x") }).active).toBe(false);
  });
});
