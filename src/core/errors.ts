/**
 * The few failures the HTTP layer maps to a status code. Everything else is a bug and becomes a 500
 * whose details go to the log only.
 */
export class GatewayError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 408 | 409 | 413 | 422 | 429 | 499 | 502 | 503 | 504,
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

/**
 * The client went away (hung up, or stopped sending its body) before it had an answer. Nobody reads the
 * answer; the access log records 499, as nginx does, at info level: it is not the gateway's failure.
 */
export class ClientGoneError extends GatewayError {
  constructor(detail = "the client closed the request") {
    super(499, detail);
  }
}

/** A request body over the route's limit. */
export class PayloadTooLargeError extends GatewayError {
  constructor(detail: string) {
    super(413, detail);
  }
}

/**
 * A request body that came too slowly: the connection is closed with the answer, since the rest of the body
 * would otherwise still have to be read (or waited for) before another request could use it.
 */
export class SlowBodyError extends GatewayError {
  constructor(detail: string) {
    super(408, detail, { Connection: "close" });
  }
}

/** A limit that frees up with time (the lease cap): try again later. */
export class TooManyError extends GatewayError {
  constructor(detail: string, retryAfterS: number) {
    super(429, detail, { "Retry-After": String(retryAfterS) });
  }
}

/** Something named in the request does not exist (a machine). */
export class NotFoundError extends GatewayError {
  constructor(detail: string) {
    super(404, detail);
  }
}

/** The machine's power-on method said no (a plug or a command): the wake is over. */
export class PowerOnFailedError extends UpstreamError {
  constructor(why: string) {
    super(`The machine could not be powered on: ${why}`);
  }
}
