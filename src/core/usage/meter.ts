// A measuring plug's live reading: a GET whose JSON holds the watts at a dotted path (Shelly Gen2
// /rpc/Switch.GetStatus?id=0 → apower, Shelly Gen1 /status → meters.0.power, Home Assistant
// /api/states/sensor.x → state). Read on the monitor's probes while the machine is on; a reading only refines
// the energy figures, so a plug that fails is logged and skipped, and never touches the power state.
// The URL and the headers may hold a token: no log line or error here repeats them.
import type { PowerMeterConfig } from "../../config/types.ts";
import { boundedText } from "../../lib/bounded-text.ts";
import type { Logger } from "../telemetry/logger.ts";

export type { PowerMeterConfig };

// A plug's status is a few hundred bytes; anything far larger is not what was meant.
const MAX_ANSWER_BYTES = 64 * 1024;
// No household plug reads more; a larger number is a wrong field (energy in Wh, a counter).
const MAX_WATTS = 100_000;

export type MeterResult = { ok: true; watts: number } | { ok: false; error: string };

/** One reading; never throws. */
export async function readMeter(m: PowerMeterConfig, timeoutMs: number): Promise<MeterResult> {
  let res: Response;
  try {
    // A redirect would carry the headers (a token) elsewhere: it is an answer like any other non-2xx.
    res = await fetch(m.url, { headers: m.headers, signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
  } catch (err) {
    const name = (err as Error | null)?.name;
    return { ok: false, error: name === "TimeoutError" || name === "AbortError" ? `no answer within ${timeoutMs} ms` : "could not be reached" };
  }
  if (res.status < 200 || res.status > 299) {
    await res.body?.cancel().catch(() => {});
    return { ok: false, error: `answered ${res.status}` };
  }
  const text = await boundedText(res, MAX_ANSWER_BYTES);
  if (text === null) return { ok: false, error: `answered more than ${MAX_ANSWER_BYTES / 1024} KB` };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, error: "answered something that is not JSON" };
  }
  const value = at(body, m.field);
  const watts = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN;
  if (!Number.isFinite(watts) || watts < 0 || watts > MAX_WATTS) return { ok: false, error: `has no watts at ${m.field}` };
  return { ok: true, watts };
}

/** The value at a dotted path ("meters.0.power": a number indexes an array). */
export function at(value: unknown, path: string): unknown {
  let v = value;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

export interface MeterOptions {
  config: PowerMeterConfig;
  timeoutMs: number;
  logger: Logger;
  now: () => number;
  /** Each good reading, stamped with when it was asked for. */
  onReading: (watts: number, at: number) => void;
}

/**
 * Reads a machine's plug when asked (on each probe while on), one reading at a time: a probe that comes while
 * the last reading is under way asks for none. A failing plug is logged once when it starts failing and once
 * when it answers again, not on every probe.
 */
export class PowerMeter {
  private busy = false;
  private failing = false;

  constructor(private readonly o: MeterOptions) {}

  /** Starts a reading unless one is under way; resolves once it is done (tests wait on it; the monitor does not). */
  read(): Promise<void> {
    if (this.busy) return Promise.resolve();
    this.busy = true;
    const at = this.o.now();
    return readMeter(this.o.config, this.o.timeoutMs)
      .then((r) => {
        if (r.ok) {
          if (this.failing) this.o.logger.info("the power meter answers again");
          this.failing = false;
          this.o.onReading(r.watts, at);
        } else if (!this.failing) {
          this.failing = true;
          this.o.logger.warn("the power meter gave no reading; the configured watts are used", { error: r.error });
        }
      })
      .catch((err) => this.o.logger.error("power meter reading failed", { err }))
      .finally(() => {
        this.busy = false;
      });
  }
}
