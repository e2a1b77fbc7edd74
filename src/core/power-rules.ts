import type { Status } from "./status-store.ts";

/** What a release (`/apagar`) should do once the count has been lowered. Pure: the caller probes and acts. */
export type ReleaseDecision =
  | { shutdown: true }
  | { shutdown: false; reason: "clients" | "permanent_on" | "already_off" };

export function decideRelease(after: Pick<Status, "peticions_ollama" | "permanent_on">, machineAnswers: boolean): ReleaseDecision {
  if (after.peticions_ollama > 0) return { shutdown: false, reason: "clients" };
  if (after.permanent_on) return { shutdown: false, reason: "permanent_on" };
  if (!machineAnswers) return { shutdown: false, reason: "already_off" };
  return { shutdown: true };
}

export function releaseMessage(d: ReleaseDecision, count: number): string {
  if (d.shutdown) return "No client holds the machine any more: shutdown sent";
  switch (d.reason) {
    case "clients":
      return `Machine stays on: ${count} client${count === 1 ? "" : "s"} still hold${count === 1 ? "s" : ""} it`;
    case "permanent_on":
      return "Machine stays on: permanent_on is enabled";
    case "already_off":
      return "No client holds the machine, and it does not answer: nothing to shut down";
  }
}

export const decrement = (n: number) => Math.max(0, n - 1);
