import type { Server } from "bun";

/**
 * A pretend plug that measures, on loopback, answering the three shapes the README names: Shelly Gen2
 * `GET /rpc/Switch.GetStatus?id=0` (watts at `apower`), Shelly Gen1 `GET /status` (`meters.0.power`) and
 * Home Assistant `GET /api/states/<entity>` (`state`, as text). `watts` is what it reads now: set it, or give
 * a function (the simulated machine's draw). With a `token`, a request without `Authorization: Bearer <token>`
 * gets 401, as Home Assistant answers.
 */
export class SimMeteringPlug {
  /** Readings served; a test waits on it growing. */
  reads = 0;
  /** Requests refused for a missing or wrong token. */
  refused = 0;
  private readonly server: Server<unknown>;
  private failures: number[] = [];

  constructor(
    public watts: number | (() => number) = 0,
    private readonly o: { token?: string; port?: number } = {},
  ) {
    this.server = Bun.serve({ hostname: "127.0.0.1", port: o.port ?? 0, fetch: (req) => this.handle(req) });
  }

  /** The base URL, without a trailing slash. */
  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  /** Shelly Gen2's status URL, the field to read being `apower`. */
  get shellyGen2(): string {
    return `${this.url}/rpc/Switch.GetStatus?id=0`;
  }

  /** The next request is answered with this status and no reading. */
  failNext(status: number): void {
    this.failures.push(status);
  }

  stop(): void {
    this.server.stop(true);
  }

  private handle(req: Request): Response {
    const failure = this.failures.shift();
    if (failure !== undefined) return Response.json({ error: "simulated failure" }, { status: failure });
    if (this.o.token !== undefined && req.headers.get("authorization") !== `Bearer ${this.o.token}`) {
      this.refused++;
      return Response.json({ message: "401: Unauthorized" }, { status: 401 });
    }
    if (req.method !== "GET") return Response.json({ error: "method not allowed" }, { status: 405 });
    const w = typeof this.watts === "function" ? this.watts() : this.watts;
    const u = new URL(req.url);
    let body: unknown;
    if (u.pathname === "/rpc/Switch.GetStatus") body = { id: 0, source: "sim", output: w > 0, apower: w, voltage: 230.1, current: w / 230.1 };
    else if (u.pathname === "/status") body = { relays: [{ ison: w > 0 }], meters: [{ power: w, is_valid: true }] };
    else if (u.pathname.startsWith("/api/states/")) {
      body = { entity_id: u.pathname.slice(12), state: String(w), attributes: { unit_of_measurement: "W", device_class: "power" } };
    } else return Response.json({ error: "not found" }, { status: 404 });
    this.reads++;
    return Response.json(body);
  }
}
