/**
 * The few failures the HTTP layer maps to a status code. Everything else is a bug and becomes a 500
 * whose details go to the log only.
 */
export class GatewayError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 409 | 422 | 502 | 503 | 504,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = new.target.name;
  }
}

/** The machine or a service on it failed in a way the client cannot fix (SSH refused, command failed). */
export class UpstreamError extends GatewayError {
  constructor(detail: string) {
    super(502, detail);
  }
}

/** Something needed is not there right now: SSH not configured, machine asleep. */
export class UnavailableError extends GatewayError {
  constructor(detail: string, retryAfterS?: number) {
    super(503, detail, retryAfterS ? { "Retry-After": String(retryAfterS) } : {});
  }
}

export class UpstreamTimeoutError extends GatewayError {
  constructor(detail: string) {
    super(504, detail);
  }
}

/** How long a client should wait before trying a sleeping machine again: about a boot. */
export const RETRY_AFTER_S = 30;

/** The machine itself does not answer: asleep, off or unreachable. With AUTO_WAKE this is where a wake starts. */
export class MachineAsleepError extends UnavailableError {
  constructor(detail: string) {
    super(detail, RETRY_AFTER_S);
  }
}
