// How a replica that does not lead a machine has the leader do what only the leader may (a wake, the decision after
// the last lease, a forced shutdown): the call goes into a short list in the shared store with its deadline, the
// leader is nudged, runs it as the caller's key would have, and publishes the answer to the caller. A list, not a
// message alone: a leader that takes over finds the calls still waiting. A call nobody answers in time is a 503.
import { actingFor, currentActor, outsideRequest } from "../../lib/actor.ts";
import { GatewayError, UnavailableError, UpstreamError } from "../errors.ts";
import type { Lead, LeaderOps } from "../power/leading.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { SharedStore } from "./store.ts";

// The list keeps the newest calls only: a flood cannot grow it, and an old call is past its deadline anyway.
const PUSH =
  "redis.call('RPUSH', KEYS[1], ARGV[1]) redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1) redis.call('PEXPIRE', KEYS[1], ARGV[3]) redis.call('PUBLISH', KEYS[2], '1') return 1";
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
  deadline: number;
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
    return this.ask(op, args) as Promise<Awaited<ReturnType<LeaderOps[K]>>>;
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
        const got = (await this.o.store.send("LPOP", [this.list, String(BATCH)])) as string[] | null;
        if (!got || got.length === 0) break;
        await Promise.all(got.map((text) => this.run(text)));
      }
    } catch (err) {
      this.o.logger.warn("could not read the calls for the leader", { err });
    } finally {
      this.draining = false;
    }
  }

  private async ask(op: keyof LeaderOps, args: unknown[]): Promise<unknown> {
    if (this.pending.size >= MAX_PENDING) throw new UnavailableError("Too many requests wait for the gateway that leads this machine; try again", 5);
    const call: Call = {
      id: crypto.randomUUID(),
      from: this.o.leadership.owner,
      op,
      args,
      actor: currentActor(),
      deadline: Date.now() + this.timeoutMs,
    };
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

  private async run(text: string): Promise<void> {
    let call: Call;
    try {
      call = JSON.parse(text) as Call;
    } catch {
      return;
    }
    if (typeof call?.id !== "string" || typeof call.from !== "string" || !(call.op in (this.ops ?? {}))) return;
    if (call.deadline < Date.now()) return; // its caller has given up: a late wake or shutdown would surprise everyone
    let answer: Answer;
    try {
      const work = () => (this.ops![call.op] as (...a: unknown[]) => Promise<unknown>)(...(Array.isArray(call.args) ? call.args : []));
      const value = await (typeof call.actor === "string" ? actingFor(call.actor, work) : outsideRequest(work));
      answer = { id: call.id, ok: true, value };
    } catch (err) {
      const e = err instanceof GatewayError ? err : new UpstreamError(`The leading gateway could not do it: ${(err as Error).message}`);
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
