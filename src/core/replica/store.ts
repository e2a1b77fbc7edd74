// The connection to the shared store (Redis or Valkey) that several replicas agree through, with Bun's own client.
// Everything the replicas share goes through here, so one place decides what "the store is away" means:
// - a command that gets no answer within COMMAND_TIMEOUT_MS fails with StoreAwayError (a 503 with Retry-After);
// - then the link is closed and dialled again (1 s, doubling to 10 s), so a frozen server never piles up commands;
// - nothing is queued while the link is down (enableOfflineQueue: false): a command fails at once instead.
// Subscriptions live on a second link, as Redis wants, and are made again on every reconnect.
import type { RedisClient } from "bun";
import type { Logger } from "../telemetry/logger.ts";
import { Link, StoreAwayError } from "./link.ts";

export { StoreAwayError };

/** How often the link that only listens is asked whether it still hears: a half-open connection says nothing. */
const LISTEN_CHECK_MS = 5000;
const COMMAND_TIMEOUT_MS = 2000;
/** A long read's step (a year of usage is read in steps) may take this long before its own link is dropped. */
const BULK_TIMEOUT_MS = 15_000;

export interface SharedStoreOptions {
  url: string;
  /** STATE_PREFIX: before every key and channel. */
  prefix: string;
  logger: Logger;
  commandTimeoutMs?: number;
}

type Listener = (message: string) => void;

export class SharedStore {
  readonly prefix: string;
  private readonly commands: Link;
  private readonly events: Link;
  private readonly reads: Link;
  private readonly listeners = new Map<string, Listener[]>();
  private readonly reconnected: (() => void)[] = [];

  constructor(private readonly o: SharedStoreOptions) {
    this.prefix = o.prefix;
    const timeoutMs = o.commandTimeoutMs ?? COMMAND_TIMEOUT_MS;
    this.commands = new Link(o.url, o.logger, timeoutMs, "commands", () => {
      for (const f of this.waiting.splice(0)) f();
      for (const f of this.reconnected) f();
    });
    this.reads = new Link(o.url, o.logger, Math.max(timeoutMs, BULK_TIMEOUT_MS), "reads", () => {});
    // After the listening link comes back, what was published meanwhile was missed: those who follow read again.
    this.events = new Link(
      o.url,
      o.logger,
      timeoutMs,
      "events",
      (client) =>
        void this.resubscribe(client).then(() => {
          for (const f of this.reconnected) f();
        }),
    );
  }

  /** A key or channel under the prefix: `key("status", "gpu")` is `ollama-gate:status:gpu`. */
  key(...parts: string[]): string {
    return this.prefix + parts.join(":");
  }

  /** Whether the last command got its answer and the link is up: what / and /debug say, and what a balancer reads. */
  get reachable(): boolean {
    return this.commands.up;
  }

  /** Dials both links; resolves at once even when the store is away (the gateway starts and answers 503 meanwhile). */
  start(): void {
    this.commands.open();
    this.events.open();
    this.reads.open();
    this.checker = setInterval(() => void this.events.send("PING", []).catch(() => {}), LISTEN_CHECK_MS);
    this.checker.unref?.();
  }

  private checker: ReturnType<typeof setInterval> | undefined;

  stop(): void {
    clearInterval(this.checker);
    this.commands.close();
    this.events.close();
    this.reads.close();
  }

  /** One command; its answer, or StoreAwayError. */
  send(command: string, args: string[]): Promise<unknown> {
    return this.commands.send(command, args);
  }

  /** A command of a long read (usage over months): on a link of its own, so it never holds up or drops the others. */
  bulk(command: string, args: string[]): Promise<unknown> {
    return this.reads.send(command, args);
  }

  /** A Lua script run atomically by the store (EVAL; scripts are short, so they are sent whole). */
  eval(script: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    return this.send("EVAL", [script, String(keys.length), ...keys, ...args.map(String)]);
  }

  publish(channel: string, message: string): Promise<unknown> {
    return this.send("PUBLISH", [this.key(channel), message]);
  }

  /** Calls `listener` with every message on `channel` (under the prefix), across reconnects. */
  subscribe(channel: string, listener: Listener): void {
    const full = this.key(channel);
    const list = this.listeners.get(full);
    if (list) return void list.push(listener);
    this.listeners.set(full, [listener]);
    const client = this.events.client;
    if (client?.connected) void this.subscribeOne(client, full);
  }

  /** Resolves once commands can be sent (at once if they can now): for startup and tests, never for a request. */
  ready(): Promise<void> {
    if (this.reachable) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private readonly waiting: (() => void)[] = [];

  /** Called each time the command link comes back after being down (followers re-read what they follow). */
  onReconnect(f: () => void): void {
    this.reconnected.push(f);
  }

  private async resubscribe(client: RedisClient): Promise<void> {
    for (const channel of [...this.listeners.keys()]) await this.subscribeOne(client, channel);
  }

  /** The channels asked for on each listening link: one asked twice would hear each message twice. */
  private readonly asked = new WeakMap<RedisClient, Set<string>>();

  private async subscribeOne(client: RedisClient, channel: string): Promise<void> {
    const asked = this.asked.get(client) ?? new Set<string>();
    this.asked.set(client, asked);
    if (asked.has(channel)) return;
    asked.add(channel);
    try {
      await client.subscribe(channel, (message) => {
        for (const f of this.listeners.get(channel) ?? []) {
          try {
            f(message);
          } catch (err) {
            this.o.logger.error("a shared event's listener failed", { err, channel });
          }
        }
      });
    } catch (err) {
      asked.delete(channel); // asked again on the next link
      this.o.logger.warn("could not subscribe to the shared store", { channel, err });
    }
  }
}
