// The power vocabulary, defined once. The status file's schema, the monitor, the metrics and the API's
// documentation all take their words from here, so adding a state is one line, and tsc finds every
// place that must then decide what the new state means.

/** What the gateway knows of the machine: the words of `power_state` in the API and the status file. */
export const PowerState = {
  off: "off",
  waking: "waking",
  on: "on",
  /** The machine answers, Ollama does not. */
  degraded: "degraded",
  shuttingDown: "shutting_down",
} as const;
export type PowerState = (typeof PowerState)[keyof typeof PowerState];
/** In this order in the metrics and the docs. */
export const POWER_STATES: readonly PowerState[] = Object.values(PowerState);

/** Why a shutdown was sent (or waits): the `reason` of events and metrics, and `shutdown_deferred`. */
export const ShutdownReason = {
  /** The last lease was released. */
  release: "release",
  /** Nobody used the machine for IDLE_SHUTDOWN_MIN. */
  idle: "idle",
  /** POST /shutdown: whatever holds the machine. */
  forced: "forced",
  /** The last lease expired. */
  leaseExpiry: "lease_expiry",
} as const;
export type ShutdownReason = (typeof ShutdownReason)[keyof typeof ShutdownReason];
export const SHUTDOWN_REASONS: readonly ShutdownReason[] = Object.values(ShutdownReason);

/** The machine answers, with Ollama or without: a shutdown command can reach it. */
export const isUp = (s: PowerState): boolean => s === PowerState.on || s === PowerState.degraded;

/** A change is under way, so the monitor probes fast. */
export const isChanging = (s: PowerState): boolean => s === PowerState.waking || s === PowerState.shuttingDown;

/** Asleep as far as a request can tell: it would have to wait for a wake. */
export const isAsleep = (s: PowerState): boolean => s === PowerState.off || s === PowerState.shuttingDown;

/** The old service's two flags, which always say what the state says (status.ts stores them under their old names). */
export const flagsFor = (s: PowerState) => ({ physicallyOn: isUp(s), logicallyOn: s === PowerState.on });
