// Pure power rules: no sockets, no clock, no files. Each table row is one branch or one precedence.
import { describe, expect, test } from "bun:test";
import { decideRelease, forcedShutdownMessage, idleShutdownApplies, idleShutdownDue, type ReleaseDecision } from "../../../src/core/power/rules.ts";

const on = { answers: true, booting: false };
const off = { answers: false, booting: false };
const booting = { answers: false, booting: true };
const free = { leases: 0, permanent_on: false };

describe("decideRelease", () => {
  test.each<
    [string, { leases: number; permanent_on: boolean }, { answers: boolean; booting: boolean; canPowerOff?: boolean }, number, ReleaseDecision]
  >([
    // One branch each.
    ["clients left keep it on", { leases: 2, permanent_on: false }, on, 0, { action: "keep", reason: "clients" }],
    ["permanent_on keeps it on", { leases: 0, permanent_on: true }, on, 0, { action: "keep", reason: "permanent_on" }],
    ["a booting machine defers until it is up", free, booting, 0, { action: "defer", inFlight: 0, booting: true }],
    ["a machine that does not answer is already off", free, off, 0, { action: "keep", reason: "already_off" }],
    ["running requests defer the shutdown", free, on, 3, { action: "defer", inFlight: 3, booting: false }],
    ["power_off none: it stays on, no error", free, { ...on, canPowerOff: false }, 0, { action: "keep", reason: "no_power_off" }],
    [
      "permanent_on before power_off none",
      { leases: 0, permanent_on: true },
      { ...on, canPowerOff: false },
      0,
      { action: "keep", reason: "permanent_on" },
    ],
    ["nothing holds it: shutdown", free, on, 0, { action: "shutdown" }],
    // Precedence: a remaining lease wins over everything, even permanent_on and a boot.
    ["clients before permanent_on", { leases: 1, permanent_on: true }, on, 0, { action: "keep", reason: "clients" }],
    ["clients before booting", { leases: 1, permanent_on: false }, booting, 5, { action: "keep", reason: "clients" }],
    // permanent_on must never be overridden by a pending boot or running work.
    ["permanent_on before booting", { leases: 0, permanent_on: true }, booting, 2, { action: "keep", reason: "permanent_on" }],
    ["permanent_on before already_off", { leases: 0, permanent_on: true }, off, 0, { action: "keep", reason: "permanent_on" }],
    // Booting beats "not answering": a booting machine does not answer yet but must not be left on once up.
    ["booting before already_off", free, { answers: false, booting: true }, 0, { action: "defer", inFlight: 0, booting: true }],
    // The in-flight count travels with a boot deferral.
    ["booting carries the in-flight count", free, { answers: true, booting: true }, 4, { action: "defer", inFlight: 4, booting: true }],
    // A machine that does not answer has nothing to cut, even with requests waiting on it.
    ["already_off before in-flight", free, off, 2, { action: "keep", reason: "already_off" }],
  ])("%s", (_name, after, machine, inFlight, expected) => {
    expect(decideRelease(after, machine, inFlight)).toEqual(expected);
  });
});

describe("idleShutdownDue", () => {
  const base = {
    windowMs: 60_000,
    any: false,
    wokenByGateway: true,
    leases: 0,
    permanent_on: false,
    inFlight: 0,
    idleSince: 1_000_000,
    now: 1_000_000 + 60_000,
  };
  test.each<[string, Partial<typeof base>, boolean]>([
    ["due once the window has elapsed since the last work", {}, true],
    // Exactly at the boundary counts (>=); one millisecond before does not.
    ["exactly at the window boundary", { now: base.idleSince + base.windowMs }, true],
    ["one millisecond before the boundary", { now: base.idleSince + base.windowMs - 1 }, false],
    ["long after the window", { now: base.idleSince + 10 * base.windowMs }, true],
    // A window of 0 (or below) turns idle shutdown off altogether.
    ["window 0 disables it", { windowMs: 0, now: base.idleSince + 1e9 }, false],
    ["negative window disables it", { windowMs: -1 }, false],
    // Anything that holds the machine holds it against idle shutdown too.
    ["a lease holds it", { leases: 1 }, false],
    ["permanent_on holds it", { permanent_on: true }, false],
    ["a running request holds it", { inFlight: 1 }, false],
    // Only a machine the gateway woke is its to shut down, unless IDLE_SHUTDOWN_ANY says otherwise.
    ["woken by someone else: left alone", { wokenByGateway: false }, false],
    ["woken by someone else with IDLE_SHUTDOWN_ANY", { wokenByGateway: false, any: true }, true],
    ["IDLE_SHUTDOWN_ANY still waits for the window", { wokenByGateway: false, any: true, now: base.idleSince + base.windowMs - 1 }, false],
    ["IDLE_SHUTDOWN_ANY still respects leases", { wokenByGateway: false, any: true, leases: 1 }, false],
  ])("%s", (_name, override, expected) => {
    expect(idleShutdownDue({ ...base, ...override })).toBe(expected);
  });
});

describe("idleShutdownApplies", () => {
  const on = { windowMs: 60_000, any: false, wokenByGateway: true, canPowerOff: true };
  test("a machine the gateway woke, with a window and a way to power off: the idle shutdown applies", () => {
    expect(idleShutdownApplies(on)).toBe(true);
    expect(idleShutdownApplies({ ...on, wokenByGateway: false, any: true })).toBe(true);
  });
  test("never: no window, no power_off, or switched on by hand without IDLE_SHUTDOWN_ANY", () => {
    expect(idleShutdownApplies({ ...on, windowMs: 0 })).toBe(false);
    expect(idleShutdownApplies({ ...on, canPowerOff: false })).toBe(false);
    expect(idleShutdownApplies({ ...on, wokenByGateway: false })).toBe(false);
  });
});

describe("forcedShutdownMessage", () => {
  // What the status file says afterwards: the three outcomes are told apart; the prose is free to change.
  test("sent, deferred until booted and already off give three different messages", () => {
    const all = [forcedShutdownMessage(true, false), forcedShutdownMessage(false, true), forcedShutdownMessage(false, false)];
    for (const m of all) expect(m.length).toBeGreaterThan(0);
    expect(new Set(all).size).toBe(3);
  });

  test("once sent, a pending boot does not matter", () => {
    expect(forcedShutdownMessage(true, true)).toBe(forcedShutdownMessage(true, false));
  });
});
