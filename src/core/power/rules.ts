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

/**
 * Idle shutdown: only with the window set, nobody holding the machine, nothing running, the window
 * elapsed since the last work ended, and — unless told otherwise — a machine the gateway woke itself.
 */
export function idleShutdownDue(o: {
  windowMs: number;
  any: boolean;
  wokenByGateway: boolean;
  leases: number;
  permanent_on: boolean;
  inFlight: number;
  idleSince: number;
  now: number;
}): boolean {
  if (o.windowMs <= 0 || o.leases > 0 || o.permanent_on || o.inFlight > 0) return false;
  if (!o.wokenByGateway && !o.any) return false;
  return o.now - o.idleSince >= o.windowMs;
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
