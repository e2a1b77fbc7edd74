// The dashboard's words: power states and events as a person reads them. The machine-readable names
// (data-state, the event types) are the API's own; only their wording lives here.

export const WORDS = { off: "Off", waking: "Waking up", on: "On", degraded: "On, Ollama not answering", shutting_down: "Shutting down" };

/** What a wake did, by the power method that acted (the events' `via`): a plug is no magic packet. */
const WAKE_DONE = { wol: "Wake packet sent", http: "Plug switched on", command: "Command run" };

/** An event in plain words. */
export function sentence(e) {
  const d = e.data ?? {};
  switch (e.type) {
    case "power":
      return `${WORDS[d.to] ?? d.to}${d.reason ? ` (${d.reason})` : ""}`;
    case "wake_sent":
      return `${WAKE_DONE[d.via] ?? "Power-on sent"}${d.attempt > 1 ? ` (attempt ${d.attempt})` : ""}`;
    case "wake_failed":
      return `Wake failed: ${d.detail ?? "unknown error"}`;
    case "wake_timeout":
      return `Gave up waking after ${typeof d.waited_s === "number" ? Math.round(d.waited_s) : "?"} s`;
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
    case "preload":
      return d.ok ? `Model ${d.model} loaded (${d.seconds} s)` : `Model ${d.model} not loaded: ${d.error ?? "failed"}`;
    default:
      return e.type;
  }
}

const pad = (n) => String(n).padStart(2, "0");
/** HH:MM in the browser's time zone; with the date when it is not within the next 20 hours. */
function clock(iso) {
  const d = new Date(iso);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return d.getTime() - Date.now() < 20 * 3600_000 ? hm : `${d.toLocaleDateString()} ${hm}`;
}

/**
 * When idle shutdown would switch it off if nothing else happens, or why it never will. Nothing while a
 * lease or a request holds it (the line above says so) or while it is not on.
 */
export function idleLine(m) {
  if (m.idle_shutdown_at) return `Sleeps at ${clock(m.idle_shutdown_at)} if idle`;
  if (m.idle_shutdown_off === "disabled") return "Idle shutdown off";
  if (m.idle_shutdown_off === "switched_on_by_hand") return "Switched on by hand: no idle shutdown";
  return "";
}
