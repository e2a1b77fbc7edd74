/** What a release should do once the lease is gone. Pure: the caller probes and acts. */
export type ReleaseDecision =
  | { action: "shutdown" }
  | { action: "defer"; inFlight: number; booting: boolean }
  | { action: "keep"; reason: "clients" | "permanent_on" | "already_off" };

export function decideRelease(
  after: { leases: number; permanent_on: boolean },
  machine: { answers: boolean; booting: boolean },
  inFlight: number,
): ReleaseDecision {
  if (after.leases > 0) return { action: "keep", reason: "clients" };
  if (after.permanent_on) return { action: "keep", reason: "permanent_on" };
  // A machine still booting cannot take the command yet, and must not be left on once it is up.
  if (machine.booting) return { action: "defer", inFlight, booting: true };
  if (!machine.answers) return { action: "keep", reason: "already_off" };
  // Never cut active work: a request still running (or waiting for the machine) holds the shutdown until it ends.
  if (inFlight > 0) return { action: "defer", inFlight, booting: false };
  return { action: "shutdown" };
}

export function releaseMessage(d: ReleaseDecision, count: number): string {
  if (d.action === "shutdown") return "No client holds the machine any more: shutdown sent";
  if (d.action === "defer" && d.booting) return "No client holds the machine any more; it will be shut down once it has finished booting";
  if (d.action === "defer")
    return `No client holds the machine any more; shutdown deferred until ${d.inFlight} running request${d.inFlight === 1 ? "" : "s"} finish${d.inFlight === 1 ? "es" : ""}`;
  switch (d.reason) {
    case "clients":
      return `Machine stays on: ${count} client${count === 1 ? "" : "s"} still hold${count === 1 ? "s" : ""} it`;
    case "permanent_on":
      return "Machine stays on: permanent_on is enabled";
    case "already_off":
      return "No client holds the machine, and it does not answer: nothing to shut down";
  }
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

/** What a forced shutdown answers (`mensaje`) and leaves in the status file (`message`). */
export function forcedShutdownOutcome(sent: boolean, deferredUntilBooted: boolean): { mensaje: string; message: string } {
  if (sent) return { mensaje: "Shutdown sent; leases and flags reset", message: "Forced shutdown sent" };
  if (deferredUntilBooted) {
    return {
      mensaje: "The machine is still booting; the shutdown will be sent as soon as it is up (a lease taken before then cancels it). Leases and flags reset",
      message: "Forced shutdown requested while the machine boots; sent once it is up",
    };
  }
  return { mensaje: "The machine does not answer; leases and flags reset", message: "Forced shutdown requested; the machine was already off" };
}
