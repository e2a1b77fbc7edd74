// The link to the broker: the gateway's own small MQTT 5 client (lib/mqtt), a last will that marks every entity
// unavailable, and reconnects with a backoff of its own (1 s doubling to 60 s), so a broker
// that is down or refuses the login costs a log line a minute at most. Nothing here throws out, and nothing
// waits on the broker but the bridge's own work: an HTTP request never does.
import type { MqttConfig } from "../../config/types.ts";
import { MqttClient, type MqttClientOptions } from "../../lib/mqtt/client.ts";
import type { Logger } from "../telemetry/logger.ts";
import { OFFLINE } from "./topics.ts";

/** What the bridge uses of a client (lib/mqtt's; tests hand in their own). */
export interface MqttClientLike {
  readonly connected: boolean;
  connect(): unknown;
  on(event: "connect", listener: () => void): unknown;
  on(event: "close", listener: () => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  on(event: "message", listener: (topic: string, payload: Buffer, packet: { retain?: boolean }) => void): unknown;
  publish(topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }, callback?: (err?: Error) => void): unknown;
  subscribe(topic: string, opts: { qos: 0 | 1 }, callback?: (err: Error | null) => void): unknown;
  reconnect(): unknown;
  end(force?: boolean, opts?: object, callback?: () => void): unknown;
}

export type ClientOptions = MqttClientOptions;
/** A client not connected yet: the Link listens first, then connects it. */
export type Connector = (opts: ClientOptions) => MqttClientLike;

/** The gateway's own small client (lib/mqtt). */
export const ownClient: Connector = (opts) => new MqttClient(opts);

export const FIRST_RETRY_MS = 1000;
/** A link that stayed up this long was a success: the next loss starts the backoff again from FIRST_RETRY_MS. */
export const STABLE_MS = 60_000;
/** The largest packet the broker may send the gateway. */
export const MAX_PACKET_BYTES = 16 * 1024;
export const LAST_RETRY_MS = 60_000;

/** The wait before the next attempt after `ms`: doubled, at most LAST_RETRY_MS. */
export const nextRetryMs = (ms: number): number => Math.min(ms * 2, LAST_RETRY_MS);

/**
 * The client's options from MQTT_URL, the user and password decoded from it. Reconnects are the Link's (the
 * backoff below), and nothing is queued while the link is down: the states are retained and all published again
 * on each connect.
 */
export function clientOptions(c: MqttConfig, status: string): ClientOptions {
  const u = new URL(c.url);
  const tls = u.protocol === "mqtts:";
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port: u.port ? Number(u.port) : tls ? 8883 : 1883,
    tls,
    ...(u.username ? { username: decode(u.username) } : {}),
    ...(u.password ? { password: decode(u.password) } : {}),
    clientId: `ollama-gate-${crypto.randomUUID().slice(0, 8)}`,
    keepaliveS: 30,
    connectTimeoutMs: 10_000,
    // The broker sends this client nothing larger (a command is a word), so whoever may publish on the broker
    // cannot make the gateway hold a message of megabytes.
    maximumPacketSize: MAX_PACKET_BYTES,
    will: { topic: status, payload: OFFLINE, qos: 1, retain: true },
  };
}

export interface LinkEvents {
  connected: (client: MqttClientLike) => void;
  /** `retained`: published with the retain flag (the subscription keeps it as published), so the broker keeps it. */
  message: (topic: string, payload: Buffer, retained: boolean) => void;
}

/** One client for the gateway's life, reconnected after each loss with the backoff. */
export class Link {
  client: MqttClientLike | null = null;
  private retryMs = FIRST_RETRY_MS;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private lastError = "";
  private wasUp = false;
  private upSince = 0;
  private stopped = false;

  constructor(
    private readonly opts: ClientOptions,
    private readonly logger: Logger,
    private readonly on: LinkEvents,
    private readonly connector: Connector = ownClient,
    private readonly now: () => number = Date.now,
  ) {}

  /** Builds the client, listens to it, then connects it (a failure at once still reaches the listeners). */
  open(): void {
    if (this.stopped || this.client) return;
    const client = this.connector(this.opts);
    this.client = client;
    client.on("connect", () => this.connected(client));
    client.on("error", (err) => {
      this.lastError = err instanceof Error ? err.message : String(err);
    });
    client.on("close", () => this.closed());
    client.on("message", (topic, payload, packet) => this.on.message(topic, payload, packet?.retain === true));
    client.connect();
  }

  /** The wait before the next attempt now (tests read it). */
  get nextRetryMs(): number {
    return this.retryMs;
  }

  private connected(client: MqttClientLike): void {
    this.logger.info(this.wasUp ? "MQTT: connected again" : "MQTT: connected", {
      retried_after_ms: this.retryMs > FIRST_RETRY_MS ? this.retryMs / 2 : undefined,
    });
    this.wasUp = true;
    this.upSince = this.now();
    this.lastError = "";
    try {
      this.on.connected(client);
    } catch (err) {
      this.logger.error("MQTT: publishing after the connect failed", { err });
    }
  }

  private closed(): void {
    if (this.stopped || this.retry) return;
    // A broker that accepts and then drops the link at once (a takeover, a policy) is retried with the backoff too.
    if (this.wasUp && this.now() - this.upSince >= STABLE_MS) this.retryMs = FIRST_RETRY_MS;
    const wait = this.retryMs;
    this.logger.warn(this.wasUp ? "MQTT: the connection to the broker was lost; retrying" : "MQTT: the broker cannot be reached; retrying", {
      error: this.lastError || undefined,
      retry_in_s: wait / 1000,
    });
    this.wasUp = false;
    this.retryMs = nextRetryMs(wait);
    this.retry = setTimeout(() => {
      this.retry = null;
      if (!this.stopped) this.client?.reconnect();
    }, wait);
    this.retry.unref?.();
  }

  /** Says `offline` on a clean stop (the will says it on a crash), then closes; bounded by `ms`. */
  async close(status: string, ms = 1000): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        client.end(true);
        resolve();
      }, ms);
      if (!client.connected) return void client.end(true, {}, done);
      client.publish(status, OFFLINE, { qos: 1, retain: true }, () => client.end(false, {}, done));
    });
  }
}
