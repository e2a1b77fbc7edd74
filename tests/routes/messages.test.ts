// The old service's `mensaje` texts, built by the routes from what the core reports.
import { describe, expect, test } from "bun:test";
import type { ReleaseDecision } from "../../src/core/power/rules.ts";
import {
  alreadyReleasedMessage,
  forcedShutdownReply,
  leaseTakenMessage,
  permanentMessage,
  probeMessage,
  RESET_MESSAGE,
  releaseMessage,
} from "../../src/routes/messages.ts";

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

// The texts the old service's clients show people, pinned word for word (from v0.1.0).
describe("the old texts, exactly", () => {
  test.each<[string, string, string]>([
    ["release: shutdown", releaseMessage({ action: "shutdown" }, 0), "No client holds the machine any more: shutdown sent"],
    [
      "release: booting",
      releaseMessage({ action: "defer", inFlight: 0, booting: true }, 0),
      "No client holds the machine any more; it will be shut down once it has finished booting",
    ],
    [
      "release: one running",
      releaseMessage({ action: "defer", inFlight: 1, booting: false }, 0),
      "No client holds the machine any more; shutdown deferred until 1 running request finishes",
    ],
    [
      "release: two running",
      releaseMessage({ action: "defer", inFlight: 2, booting: false }, 0),
      "No client holds the machine any more; shutdown deferred until 2 running requests finish",
    ],
    ["release: one client", releaseMessage({ action: "keep", reason: "clients" }, 1), "Machine stays on: 1 client still holds it"],
    ["release: two clients", releaseMessage({ action: "keep", reason: "clients" }, 2), "Machine stays on: 2 clients still hold it"],
    ["release: permanent_on", releaseMessage({ action: "keep", reason: "permanent_on" }, 0), "Machine stays on: permanent_on is enabled"],
    [
      "release: already off",
      releaseMessage({ action: "keep", reason: "already_off" }, 0),
      "No client holds the machine, and it does not answer: nothing to shut down",
    ],
    ["already released", alreadyReleasedMessage("abc"), "Lease abc was already released; nothing changed"],
    [
      "release: power_off none",
      releaseMessage({ action: "keep", reason: "no_power_off" }, 0),
      "No client holds the machine any more; it stays on, as its power_off is none",
    ],
    ["forced: sent", forcedShutdownReply(true, false), "Shutdown sent; leases and flags reset"],
    [
      "forced: booting",
      forcedShutdownReply(false, true),
      "The machine is still booting; the shutdown will be sent as soon as it is up (a lease taken before then cancels it). Leases and flags reset",
    ],
    ["forced: off", forcedShutdownReply(false, false), "The machine does not answer; leases and flags reset"],
    ["probe: dark", probeMessage(false, false), "The machine does not answer"],
    ["probe: both", probeMessage(true, true), "The machine and Ollama answer"],
    ["probe: no Ollama", probeMessage(true, false), "The machine answers but Ollama does not"],
    ["lease: packet", leaseTakenMessage(true, false, "waking"), "Magic packet sent; the machine is starting"],
    ["lease: on", leaseTakenMessage(false, false, "on"), "The machine is on; lease taken"],
    ["lease: ready", leaseTakenMessage(true, true, "on"), "The machine is ready"],
    ["permanent on", permanentMessage(true), "permanent_on enabled: the machine will not be shut down by /apagar"],
    ["permanent off", permanentMessage(false), "permanent_on disabled"],
    ["reset", RESET_MESSAGE, "Status initialised: peticions_ollama 0, permanent_on false"],
  ])("%s", (_name, actual, expected) => {
    expect(actual).toBe(expected);
  });
});
