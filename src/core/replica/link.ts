// One link to the shared store (store.ts keeps three: commands, subscriptions, long reads), with Bun's own client:
// dialled again after every loss (1 s, doubling to 10 s), nothing queued while it is down, and a timeout on each
// command after which the link is dropped, so a frozen Redis never piles up commands.
import { RedisClient } from "bun";
import { UnavailableError } from "../errors.ts";
import type { Logger } from "../telemetry/logger.ts";

/** Anything that needs the shared truth while the store is away: never a guess, a 503 the client may retry. */
export class StoreAwayError extends UnavailableError {
  constructor() {
    super("The state store (Redis) is unreachable; nothing was changed. Try again shortly", RETRY_AFTER_S);
  }
}

const RETRY_AFTER_S = 5;

/** Redis's answers for "not now" (loading its append-only log, a long script, a read-only replica, a cluster moving). */
const NOT_NOW = /\b(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|OOM)\b/;
const FIRST_RETRY_MS = 1000;
const LAST_RETRY_MS = 10_000;

/** One link to the store: dialled again after every loss, with a timeout on each command. */
export class Link {
  client: RedisClient | null = null;
  private retryMs = FIRST_RETRY_MS;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private ready = false;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
    private readonly what: string,
    private readonly onUp: (client: RedisClient) => void,
  ) {}

  get up(): boolean {
    return this.ready && this.client?.connected === true;
  }

  open(): void {
    if (this.closed || this.client) return;
    const client = new RedisClient(this.url, {
      connectionTimeout: this.timeoutMs,
      autoReconnect: false,
      enableOfflineQueue: false,
    });
    this.client = client;
    client.onclose = () => this.lost(client);
    client.connect().then(
      () => {
        if (this.client !== client) return client.close();
        const wasDown = this.retryMs > FIRST_RETRY_MS || this.everUp;
        this.ready = true;
        this.everUp = true;
        this.retryMs = FIRST_RETRY_MS;
        if (wasDown) this.logger.info("the shared store answers again", { link: this.what });
        this.onUp(client);
      },
      () => this.lost(client),
    );
  }

  private everUp = false;

  /** The link is gone (or hopeless): drop it and dial again later. */
  private lost(client: RedisClient): void {
    if (this.client !== client) return;
    if (this.ready) this.logger.warn("lost the shared store; retrying", { link: this.what });
    this.ready = false;
    this.client = null;
    try {
      client.close();
    } catch {}
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), this.retryMs);
    this.timer.unref?.();
    this.retryMs = Math.min(LAST_RETRY_MS, this.retryMs * 2);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    this.ready = false;
    client?.close();
  }

  async send(command: string, args: string[]): Promise<unknown> {
    const client = this.client;
    if (!client || !this.up) throw new StoreAwayError();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // No answer in time: the server is frozen or the network cut. The link goes, and its queue with it.
        this.lost(client);
        reject(new StoreAwayError());
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([client.send(command, args), late]);
    } catch (err) {
      if (err instanceof StoreAwayError) throw err;
      // A closed link is the store away; so is a Redis that answers it cannot serve yet (loading its log, busy with
      // a script, a replica that is read-only). Any other error Redis answered (a script's) is a bug of ours.
      if (!client.connected) {
        this.lost(client);
        throw new StoreAwayError();
      }
      if (NOT_NOW.test(String((err as Error)?.message ?? ""))) throw new StoreAwayError();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}
