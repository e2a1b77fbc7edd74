// A warm model after a wake (README "A warm model after a wake"): once Ollama answers after a wake, each of
// the machine's `preload` models is loaded (preload-send.ts), unless a client's request for it is already on
// its way there. Never in a held request's way: nothing waits for a load, and the first load is sent only once
// the requests that waited for the wake have been answered (their answers begun), so that Ollama, which loads
// one model at a time, takes theirs first. One load at a time, in the order configured: Ollama would queue
// them anyway, and so each one's seconds are its own.
import { GATEWAY_KEY } from "../../config/keys-file.ts";
import { outsideRequest } from "../../lib/actor.ts";
import { normalizeModel } from "../fleet/model-index.ts";
import { PowerState } from "../power/states.ts";
import { type EventSink, EventType } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { UsageRecorder } from "../usage/types.ts";
import { type LoadOutcome, sendLoad } from "./preload-send.ts";

/** The usage key a load is counted under: the gateway's own, no client's (no key may be named so). */
export const PRELOAD_KEY = GATEWAY_KEY;
/** Distinct models marked as on their way at most: a client may name any model it likes. */
const MAX_MARKED = 64;
/** The longest model name kept as a mark (Ollama's own are far shorter). */
const MODEL_CHARS = 256;
/** Requests whose answer the first load waits for, at most; past them, it does not wait for more. */
const MAX_AHEAD = 1024;

export interface PreloadOptions {
  /** The machine's name, for the usage record. */
  machine: string;
  /** The models to load, in order, and the keep_alive they are loaded with (Ollama's syntax). */
  models: readonly string[];
  keepAlive: string;
  /** The machine's Ollama (loopback in tests), and how long a load may take: its generate timeout. */
  ollamaUrl: string;
  timeoutMs: number;
  /** The machine's power state now: a load waits its turn, by which time the machine may have left "on". */
  state: () => PowerState;
  events: EventSink;
  logger: Logger;
  usage: UsageRecorder;
  /** The clock of the usage record's hour. */
  now: () => number;
  /** One load (tests replace it); by default the request to Ollama itself. */
  send?: (model: string) => Promise<LoadOutcome>;
  /**
   * A slot of the machine (max_concurrent) for each load, taken once nobody waits in its line: a load never
   * takes a slot a client's request waits for. Undefined: none came in time (the load is skipped). Absent: no line.
   */
  turn?: () => Promise<{ release(): void } | undefined>;
}

const NOTHING = () => {};

export class Preloader {
  /** Models with a client request on its way to this machine, by Ollama's reading of the name, and how many. */
  private readonly marked = new Map<string, number>();
  /** The requests forwarded while watching whose answer has not begun yet (settled when it has, or failed). */
  private readonly ahead = new Set<Promise<void>>();
  private last: PowerState | undefined;
  private running: Promise<void> | null = null;
  private readonly models: string[];
  private readonly send: (model: string) => Promise<LoadOutcome>;

  constructor(private readonly o: PreloadOptions) {
    // One load per model, whatever spellings the list repeats it in.
    const seen = new Set<string>();
    this.models = o.models.filter((m) => !seen.has(normalizeModel(m)) && seen.add(normalizeModel(m)));
    this.send = o.send ?? ((model) => sendLoad(o.ollamaUrl, model, o.keepAlive, o.timeoutMs));
  }

  /**
   * From a wake's start until its loads are done: while it is true, the requests forwarded to the machine are
   * looked at for their model (preload-marks.ts); at any other time, not at all.
   */
  get watching(): boolean {
    return this.last === PowerState.waking || this.running !== null;
  }

  /** The monitor's listener: a wake that reached "on" starts the loads, once the requests it held have left. */
  stateChanged(state: PowerState): void {
    const from = this.last;
    this.last = state;
    if (state !== PowerState.on || from !== PowerState.waking || this.running) return;
    // A timer's turn: the held requests' own steps (promise callbacks) have all run by then, so each has been
    // forwarded (and is in `ahead`). The loads are nobody's request, whichever request's probe saw Ollama answer.
    this.running = outsideRequest(() =>
      new Promise<void>((resolve) => setTimeout(resolve, 0))
        .then(() => this.loadAll())
        .catch((err) => this.o.logger.error("preloading failed", { err }))
        .finally(() => {
          this.running = null;
        }),
    );
  }

  /** Resolves once the loads under way (if any) are done: for tests and a clean stop. */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /**
   * Marks a client's request for `model` as on its way to this machine, until the returned function is called
   * (once its answer has ended or it failed): a load for that model is then not sent, Ollama loads it anyway.
   */
  clientSent(model: string): () => void {
    const key = normalizeModel(model.slice(0, MODEL_CHARS));
    const n = this.marked.get(key);
    if (n === undefined && this.marked.size >= MAX_MARKED) return NOTHING;
    this.marked.set(key, (n ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.marked.get(key) ?? 1) - 1;
      if (left > 0) this.marked.set(key, left);
      else this.marked.delete(key);
    };
  }

  /**
   * A request that runs a model, forwarded while watching: the first load is sent only once its answer has
   * begun (or it failed). Ollama loads one model at a time, in the order requests reach it: a load sent at
   * the same moment as the requests the wake held could reach it first, and hold theirs back by a whole load.
   */
  sentAhead(answer: Promise<unknown>): void {
    if (this.ahead.size >= MAX_AHEAD) return;
    const begun = answer.then(NOTHING, NOTHING);
    this.ahead.add(begun);
    void begun.then(() => this.ahead.delete(begun));
  }

  /** Whether a client's request for `model` is on its way to this machine. */
  busy(model: string): boolean {
    return this.marked.has(normalizeModel(model.slice(0, MODEL_CHARS)));
  }

  private async loadAll(): Promise<void> {
    await Promise.all(this.ahead);
    for (const model of this.models) {
      // A shutdown, or Ollama gone again: the loads left would fail, and the next wake loads them.
      if (this.o.state() !== PowerState.on) return;
      if (this.busy(model)) {
        this.o.logger.info("preload skipped: a client's request for the model is on its way", { model });
        continue;
      }
      await this.loadOne(model);
    }
  }

  private async loadOne(model: string): Promise<void> {
    const place = this.o.turn && (await this.o.turn());
    if (this.o.turn && !place) {
      this.o.logger.info("preload skipped: the machine's queue never emptied", { model });
      return;
    }
    // What the wait for a turn may have changed: the machine left "on", or a client's request brings the model.
    if (this.o.state() !== PowerState.on || this.busy(model)) {
      place?.release();
      return;
    }
    try {
      await this.loadNow(model);
    } finally {
      place?.release();
    }
  }

  private async loadNow(model: string): Promise<void> {
    const at = this.o.now();
    const out = await this.send(model);
    const seconds = Math.round(out.seconds * 10) / 10;
    this.o.events.emit(EventType.preload, { model, seconds, ok: out.ok, ...(out.error ? { error: out.error } : {}) });
    if (out.ok) this.o.logger.info("model preloaded", { model, seconds });
    else this.o.logger.warn("preload failed", { model, seconds, error: out.error });
    // Counted like a client's generate, under the gateway's own key: the machine spent that time loading.
    this.o.usage.record({
      at,
      key: PRELOAD_KEY,
      user: null,
      model: normalizeModel(model),
      machine: this.o.machine,
      kind: "generate",
      status: out.status,
      complete: out.complete,
      figures: out.figures,
      ttfbMs: out.ttfbMs,
      wakeWaitS: 0,
      totalS: out.seconds,
    });
  }
}
