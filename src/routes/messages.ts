// The old service's `mensaje` texts, which its clients show to people. The core reports what happened;
// these say it in words, beside the routes that send them.
import type { ReleaseDecision } from "../core/power/rules.ts";

const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);

export function releaseMessage(d: ReleaseDecision, count: number): string {
  if (d.action === "shutdown") return "No client holds the machine any more: shutdown sent";
  if (d.action === "defer" && d.booting) return "No client holds the machine any more; it will be shut down once it has finished booting";
  if (d.action === "defer") {
    return `No client holds the machine any more; shutdown deferred until ${d.inFlight} running ${plural(d.inFlight, "request finishes", "requests finish")}`;
  }
  switch (d.reason) {
    case "clients":
      return `Machine stays on: ${count} ${plural(count, "client still holds", "clients still hold")} it`;
    case "permanent_on":
      return "Machine stays on: permanent_on is enabled";
    case "no_power_off":
      return "No client holds the machine any more; it stays on, as its power_off is none";
    case "already_off":
      return "No client holds the machine, and it does not answer: nothing to shut down";
  }
}

export const alreadyReleasedMessage = (leaseId: string) => `Lease ${leaseId} was already released; nothing changed`;

export function forcedShutdownReply(sent: boolean, deferredUntilBooted: boolean): string {
  if (sent) return "Shutdown sent; leases and flags reset";
  if (deferredUntilBooted) {
    return "The machine is still booting; the shutdown will be sent as soon as it is up (a lease taken before then cancels it). Leases and flags reset";
  }
  return "The machine does not answer; leases and flags reset";
}

export function probeMessage(hostAnswers: boolean, ollamaAnswers: boolean): string {
  if (!hostAnswers) return "The machine does not answer";
  return ollamaAnswers ? "The machine and Ollama answer" : "The machine answers but Ollama does not";
}

export function leaseTakenMessage(wolSent: boolean, ready: boolean, state: string): string {
  if (ready) return "The machine is ready";
  return wolSent ? "Magic packet sent; the machine is starting" : `The machine is ${state}; lease taken`;
}

export const permanentMessage = (enabled: boolean) =>
  enabled ? "permanent_on enabled: the machine will not be shut down by /apagar" : "permanent_on disabled";

export const RESET_MESSAGE = "Status initialised: peticions_ollama 0, permanent_on false";
