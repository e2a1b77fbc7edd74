// How a replica that does not lead a machine has the leader do what only the leader may (a wake, the decision after
// the last lease, a forced shutdown): the call goes into a short list in the shared store, stamped with the store's time, the
// leader is nudged, runs it as the caller's key would have, and publishes the answer to the caller. A list, not a
// message alone: a leader that takes over finds the calls still waiting. A call nobody answers in time is a 503.
import { actingFor, currentActor, outsideRequest } from "../../lib/actor.ts";
import { GatewayError, UnavailableError, UpstreamError } from "../errors.ts";
import type { Lead, LeaderOps } from "../power/leading.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { SharedStore } from "./store.ts";

// Each call is stamped with the store's clock, and judged late by it: the replicas' clocks need not agree.
const NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) ";
// The list keeps the newest calls only: a flood cannot grow it, and an old call is past its deadline anyway.
const PUSH =
  NOW +
  "redis.call('RPUSH', KEYS[1], now .. '|' .. ARGV[1]) redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1) " +
  "redis.call('PEXPIRE', KEYS[1], ARGV[3]) redis.call('PUBLISH', KEYS[2], '1') return 1";
// The next calls and the store's time. LPOP with a count needs Redis 6.2 or later.
const TAKE = NOW + "local items = redis.call('LPOP', KEYS[1], ARGV[1]) or {} return {tostring(now), items}";
const MAX_QUEUED = 1000;
/** Calls of this process waiting for their answer, at most: past it a request is told to retry. */
const MAX_PENDING = 1000;
const BATCH = 50;

interface Call {
  id: string;
  from: string;
  op: keyof LeaderOps;
  args: unknown[];
  actor?: string;
}

type Answer =
  | { id: string; ok: true; value: unknown }
  | { id: string; ok: false; status: GatewayError["status"]; detail: string; headers: Record<string, string> };

export interface LeaderCallsOptions {
  store: Pick<SharedStore, "key" | "send" | "eval" | "publish" | "subscribe" | "reachable">;
  machine: string;
  /** The machine's lock (leader.ts): whether this process leads, and its owner name. */
  leadership: { readonly leading: boolean; readonly owner: string };
  ttlMs: number;
  logger: Logger;
  /**
   * Reads the shared status again once an answer came: the leader answers after it wrote the state its act led to,
   * and whoever asked (a request about to wait for "on") must see that state, not the one before it.
   */
  refresh?: () => Promise<unknown>;
}

export class LeaderCalls implements Lead {
  readonly shared = true;
  private ops?: LeaderOps;
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: unknown) => void; timer: ReturnType<typeof setTimeout> }>();
  private readonly list: string;
  private readonly nudge: string;
  private readonly timeoutMs: number;
  private draining = false;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly o: LeaderCallsOptions) {
    this.list = o.store.key("calls", o.machine);
    this.nudge = o.store.key("calls-nudge", o.machine);
    // Long enough for a leader to die, its lock to run out, a new one to count itself leader, then shut down.
    this.timeoutMs = o.ttlMs * 3 + 15_000;
  }

  /** Leads, and reaches the store: a leader that lost its link stops acting at once, not when its lock would run out. */
  leading(): boolean {
    return this.o.leadership.leading && this.o.store.reachable;
  }

  serve(ops: LeaderOps): void {
    this.ops = ops;
  }

  call<K extends keyof LeaderOps>(op: K, ...args: Parameters<LeaderOps[K]>): Promise<Awaited<ReturnType<LeaderOps[K]>>> {
    if (this.leading()) return (this.ops![op] as (...a: unknown[]) => Promise<never>)(...args);
    return this.ask(op, args).then(async (value) => {
      await this.o.refresh?.().catch(() => {});
      return value;
    }) as Promise<Awaited<ReturnType<LeaderOps[K]>>>;
  }

  /** Listens for calls (run while leading) and for the answers to this process's own. */
  start(): void {
    this.o.store.subscribe(`calls-nudge:${this.o.machine}`, () => void this.drain());
    this.o.store.subscribe(`calls-answer:${this.o.leadership.owner}`, (text) => this.answered(text));
    // A nudge lost with a link is made up for: the leader looks at the list a few times per TTL.
    this.timer = setInterval(() => void this.drain(), Math.max(250, this.o.ttlMs / 3));
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new UnavailableError("The gateway is stopping", 5));
      this.pending.delete(id);
    }
  }

  /** Runs the calls waiting in the list, while this process leads. */
  async drain(): Promise<void> {
    if (this.draining || !this.leading() || !this.ops) return;
    this.draining = true;
    try {
      while (this.leading()) {
        const [now, got] = (await this.o.store.eval(TAKE, [this.list], [BATCH])) as [string, string[]];
        if (!Array.isArray(got) || got.length === 0) break;
        await Promise.all(got.map((item) => this.run(item, Number(now))));
      }
    } catch (err) {
      this.o.logger.warn("could not read the calls for the leader", { err });
    } finally {
      this.draining = false;
    }
  }

  private async ask(op: keyof LeaderOps, args: unknown[]): Promise<unknown> {
    if (this.pending.size >= MAX_PENDING) throw new UnavailableError("Too many requests wait for the gateway that leads this machine; try again", 5);
    const call: Call = { id: crypto.randomUUID(), from: this.o.leadership.owner, op, args, actor: currentActor() };
    const answer = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(call.id);
        reject(new UnavailableError(`No gateway led machine ${this.o.machine} in time to do this; nothing was done. Try again shortly`, 5));
      }, this.timeoutMs);
      this.pending.set(call.id, { resolve, reject, timer });
    });
    try {
      await this.o.store.eval(PUSH, [this.list, this.nudge], [JSON.stringify(call), MAX_QUEUED, this.timeoutMs]);
    } catch (err) {
      const p = this.pending.get(call.id);
      if (p) clearTimeout(p.timer);
      this.pending.delete(call.id);
      answer.catch(() => {});
      throw err;
    }
    return answer;
  }

  private async run(item: string, now: number): Promise<void> {
    const bar = item.indexOf("|");
    // Its caller has given up: a late wake or shutdown would surprise everyone.
    // A second early, so a caller never gives up on a call that runs after all.
    if (bar < 0 || now - Number(item.slice(0, bar)) >= this.timeoutMs - 1000) return;
    let call: Call;
    try {
      call = JSON.parse(item.slice(bar + 1)) as Call;
    } catch {
      return;
    }
    if (typeof call?.id !== "string" || typeof call.from !== "string" || !(call.op in (this.ops ?? {}))) return;
    let answer: Answer;
    try {
      const work = () => (this.ops![call.op] as (...a: unknown[]) => Promise<unknown>)(...(Array.isArray(call.args) ? call.args : []));
      const value = await (typeof call.actor === "string" ? actingFor(call.actor, work) : outsideRequest(work));
      answer = { id: call.id, ok: true, value };
    } catch (err) {
      // What is not one of the gateway's answers stays in the leader's log, as a single gateway's 500 would.
      if (!(err instanceof GatewayError)) this.o.logger.error("a call for the leader failed", { op: call.op, err });
      const e = err instanceof GatewayError ? err : new UpstreamError("The gateway that leads this machine could not do it; its log says why");
      answer = { id: call.id, ok: false, status: e.status, detail: e.detail, headers: e.headers };
    }
    await this.o.store.publish(`calls-answer:${call.from}`, JSON.stringify(answer)).catch(() => {});
  }

  private answered(text: string): void {
    let a: Answer;
    try {
      a = JSON.parse(text) as Answer;
    } catch {
      return;
    }
    const p = this.pending.get(a?.id);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(a.id);
    if (a.ok) p.resolve(a.value);
    else p.reject(new GatewayError(a.status, String(a.detail), a.headers ?? {}));
  }
}
