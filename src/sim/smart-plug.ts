import type { Server } from "bun";

export interface PlugCall {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
}

export interface PlugSwitch {
  on: () => void;
  off: () => void;
}

/**
 * A pretend smart plug on loopback, Shelly-like: `GET|POST /relay/0?turn=on|off` switches the relay and
 * answers `{"ison": true|false}`; without `turn` it only tells. Wire `on`/`off` to a simulated machine
 * (boot() / powerOff()) for the demo and the tests. Every request is recorded in `calls`.
 */
export class SimSmartPlug {
  readonly calls: PlugCall[] = [];
  ison = false;
  private readonly server: Server<unknown>;
  private failures: number[] = [];

  /** `port` 0 (the default) takes a free one; `npm run sim` gives a fixed one. */
  constructor(
    private readonly relay: PlugSwitch = { on: () => {}, off: () => {} },
    port = 0,
  ) {
    this.server = Bun.serve({ hostname: "127.0.0.1", port, fetch: (req) => this.handle(req) });
  }

  /** The base URL, without a trailing slash: `${plug.url}/relay/0?turn=on`. */
  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  /** The next request is answered with this status, and the relay does not move. */
  failNext(status: number): void {
    this.failures.push(status);
  }

  stop(): void {
    this.server.stop(true);
  }

  private async handle(req: Request): Promise<Response> {
    const u = new URL(req.url);
    this.calls.push({
      method: req.method,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: Object.fromEntries(req.headers),
      body: await req.text(),
    });
    const failure = this.failures.shift();
    if (failure !== undefined) return Response.json({ error: "simulated failure" }, { status: failure });
    if (u.pathname !== "/relay/0") return Response.json({ error: "not found" }, { status: 404 });
    if (req.method !== "GET" && req.method !== "POST") return Response.json({ error: "method not allowed" }, { status: 405 });
    const turn = u.searchParams.get("turn");
    if (turn === "on") {
      this.ison = true;
      this.relay.on();
    } else if (turn === "off") {
      this.ison = false;
      this.relay.off();
    } else if (turn !== null) {
      return Response.json({ error: "turn must be on or off" }, { status: 400 });
    }
    return Response.json({ ison: this.ison });
  }
}
