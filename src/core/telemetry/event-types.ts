/** Every kind of event, defined once: `/events`, its documentation and (later) webhook filters use these words. */
export const EventType = {
  /** A power state change: from, to, reason. */
  power: "power",
  wakeSent: "wake_sent",
  wakeFailed: "wake_failed",
  wakeTimeout: "wake_timeout",
  shutdownSent: "shutdown_sent",
  shutdownDeferred: "shutdown_deferred",
  shutdownFailed: "shutdown_failed",
  leaseTaken: "lease_taken",
  leaseReleased: "lease_released",
  leaseExpired: "lease_expired",
  leasesCleared: "leases_cleared",
  permanentOn: "permanent_on",
  /** Proxied requests began running after a quiet spell, or all ended and it stayed quiet: running, in_flight. */
  requests: "requests",
  /** A model loaded after a wake (a machine's preload): model, seconds, ok, and error when it failed. */
  preload: "preload",
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];
export const EVENT_TYPES: readonly EventType[] = Object.values(EventType);
