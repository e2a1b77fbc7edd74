// The dashboard's words: power states and events as a person reads them. The machine-readable names
// (data-state, the event types) are the API's own; only their wording lives here.

export const WORDS = { off: "Off", waking: "Waking up", on: "On", degraded: "On, Ollama not answering", shutting_down: "Shutting down" };

/** An event in plain words. */
export function sentence(e) {
  const d = e.data ?? {};
  switch (e.type) {
    case "power":
      return `${WORDS[d.to] ?? d.to}${d.reason ? ` (${d.reason})` : ""}`;
    case "wake_sent":
      return `Wake packet sent${d.attempt > 1 ? ` (attempt ${d.attempt})` : ""}`;
    case "wake_failed":
      return `Wake failed: ${d.detail ?? "unknown error"}`;
    case "wake_timeout":
      return `Gave up waking after ${d.waited_s ?? "?"} s`;
    case "shutdown_sent":
      return `Shutdown sent (${d.reason ?? "asked"})`;
    case "shutdown_deferred":
      return `Shutdown waits: ${d.booting ? "the machine is still booting" : `${d.in_flight ?? 0} running request(s)`}`;
    case "shutdown_failed":
      return `Shutdown failed: ${d.detail ?? "unknown error"}`;
    case "lease_taken":
      return `Lease taken by ${d.holder ?? "a client"}`;
    case "lease_released":
      return `Lease of ${d.holder ?? "a client"} released`;
    case "lease_expired":
      return `Lease of ${d.holder ?? "a client"} expired`;
    case "leases_cleared":
      return `${d.count ?? "All"} lease(s) cleared by ${d.by ?? "a reset"}`;
    case "permanent_on":
      return `Keep on ${d.enabled ? "switched on" : "switched off"}`;
    case "requests":
      return d.running ? "Requests running" : "No requests running";
    default:
      return e.type;
  }
}
