// The old service's `mensaje` texts, built by the routes from what the core reports.
import { describe, expect, test } from "bun:test";
import type { ReleaseDecision } from "../../src/core/power/rules.ts";
import { forcedShutdownReply, releaseMessage } from "../../src/routes/messages.ts";

describe("forcedShutdownReply", () => {
  test("sent, deferred until booted and already off are told apart", () => {
    const all = [forcedShutdownReply(true, false), forcedShutdownReply(false, true), forcedShutdownReply(false, false)];
    for (const m of all) expect(m.length).toBeGreaterThan(0);
    expect(new Set(all).size).toBe(3);
  });
});

describe("releaseMessage", () => {
  const decisions: [string, ReleaseDecision][] = [
    ["shutdown", { action: "shutdown" }],
    ["defer booting", { action: "defer", inFlight: 0, booting: true }],
    ["defer in-flight", { action: "defer", inFlight: 2, booting: false }],
    ["keep clients", { action: "keep", reason: "clients" }],
    ["keep permanent_on", { action: "keep", reason: "permanent_on" }],
    ["keep already_off", { action: "keep", reason: "already_off" }],
  ];

  test.each(decisions)("%s gives a non-empty message", (_name, d) => {
    expect(releaseMessage(d, 2).trim().length).toBeGreaterThan(0);
  });

  test("every decision gives a distinct message", () => {
    expect(new Set(decisions.map(([, d]) => releaseMessage(d, 2))).size).toBe(decisions.length);
  });

  // Counts: the number shows, and one reads differently from many (no "1 clients").
  test.each([1, 2, 7])("clients count %i appears in the message", (n) => {
    expect(releaseMessage({ action: "keep", reason: "clients" }, n)).toContain(String(n));
  });
  test.each([1, 2, 7])("in-flight count %i appears in the message", (n) => {
    expect(releaseMessage({ action: "defer", inFlight: n, booting: false }, 0)).toContain(String(n));
  });

  test("singular and plural differ beyond the number", () => {
    const clients = (n: number) => releaseMessage({ action: "keep", reason: "clients" }, n).replace(String(n), "N");
    const running = (n: number) => releaseMessage({ action: "defer", inFlight: n, booting: false }, 0).replace(String(n), "N");
    expect(clients(1)).not.toBe(clients(2));
    expect(clients(2)).toBe(clients(7));
    expect(running(1)).not.toBe(running(2));
    expect(running(2)).toBe(running(7));
  });
});
