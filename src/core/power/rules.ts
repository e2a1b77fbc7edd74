import { ShutdownReason } from "./states.ts";

/** What a release should do once the lease is gone. Pure: the caller probes and acts. */
export type ReleaseDecision =
  | { action: "shutdown" }
  | { action: "defer"; inFlight: number; booting: boolean }
  | { action: "keep"; reason: "clients" | "permanent_on" | "already_off" | "no_power_off" };

export function decideRelease(
  after: { leases: number; permanent_on: boolean },
  machine: { answers: boolean; booting: boolean; canPowerOff?: boolean },
  inFlight: number,
): ReleaseDecision {
  if (after.leases > 0) return { action: "keep", reason: "clients" };
  if (after.permanent_on) return { action: "keep", reason: "permanent_on" };
  // power_off: none — nothing could switch it off; it stays on, and that is no error.
  if (machine.canPowerOff === false) return { action: "keep", reason: "no_power_off" };
  // A machine still booting cannot take the command yet, and must not be left on once it is up.
  if (machine.booting) return { action: "defer", inFlight, booting: true };
  if (!machine.answers) return { action: "keep", reason: "already_off" };
  // Never cut active work: a request still running (or waiting for the machine) holds the shutdown until it ends.
  if (inFlight > 0) return { action: "defer", inFlight, booting: false };
  return { action: "shutdown" };
}

/** Why a machine has no idle deadline: each is a reason the idle shutdown leaves it alone. */
export const IdleOff = {
  /** IDLE_SHUTDOWN_MIN (or the machine's idle_shutdown_min) is 0. */
  disabled: "disabled",
  /** Switched on by hand, not by the gateway, and IDLE_SHUTDOWN_ANY is false. */
  switchedOnByHand: "switched_on_by_hand",
  /** A lease, Keep on, a running request or a waiting shutdown holds it: it is not idle. */
  held: "held",
  /** It is not on (asleep, waking, shutting down): there is nothing to put to sleep yet. */
  notOn: "not_on",
  /** power_off: none — nothing could switch it off. */
  noPowerOff: "no_power_off",
} as const;
export type IdleOff = (typeof IdleOff)[keyof typeof IdleOff];

export interface IdleWindowInput {
  windowMs: number;
  any: boolean;
  wokenByGateway: boolean;
  leases: number;
  permanent_on: boolean;
  inFlight: number;
  idleSince: number;
}

/**
 * When the idle shutdown would switch the machine off if nothing else happens, or why it never will as
 * things stand. Only with the window set, nobody holding the machine, nothing running, and — unless told
 * otherwise — a machine the gateway woke itself; the window runs from when the last work ended.
 */
export function idleDeadline(o: IdleWindowInput & { up?: boolean; canPowerOff?: boolean }): { at: number } | { at: null; off: IdleOff } {
  if (o.windowMs <= 0) return { at: null, off: IdleOff.disabled };
  if (o.canPowerOff === false) return { at: null, off: IdleOff.noPowerOff };
  if (o.up === false) return { at: null, off: IdleOff.notOn };
  if (!o.wokenByGateway && !o.any) return { at: null, off: IdleOff.switchedOnByHand };
  if (o.leases > 0 || o.permanent_on || o.inFlight > 0) return { at: null, off: IdleOff.held };
  return { at: o.idleSince + o.windowMs };
}

/** Whether idle shutdown would switch the machine off once nothing holds it (the gauge ollama_gate_idle_shutdown_on). */
export function idleShutdownApplies(o: Pick<IdleWindowInput, "windowMs" | "any" | "wokenByGateway"> & { canPowerOff: boolean }): boolean {
  return idleDeadline({ ...o, leases: 0, permanent_on: false, inFlight: 0, idleSince: 0 }).at !== null;
}

/** Idle shutdown is due once the deadline has come. */
export function idleShutdownDue(o: IdleWindowInput & { now: number }): boolean {
  const d = idleDeadline(o);
  return d.at !== null && o.now >= d.at;
}

/** What a forced shutdown leaves in the status file's `message`. */
export function forcedShutdownMessage(sent: boolean, deferredUntilBooted: boolean): string {
  if (sent) return "Forced shutdown sent";
  if (deferredUntilBooted) return "Forced shutdown requested while the machine boots; sent once it is up";
  return "Forced shutdown requested; the machine was already off";
}

/** What the status file's `message` says once a shutdown went out. */
const SHUTDOWN_MESSAGES: Record<ShutdownReason, string> = {
  [ShutdownReason.release]: "Shutdown sent: the last lease was released",
  [ShutdownReason.idle]: "Shutdown sent: idle for IDLE_SHUTDOWN_MIN",
  [ShutdownReason.forced]: "Forced shutdown sent",
  [ShutdownReason.leaseExpiry]: "Shutdown sent: the last lease expired",
};

export const shutdownSentMessage = (reason: ShutdownReason): string => SHUTDOWN_MESSAGES[reason];
