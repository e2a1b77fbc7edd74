// The rules the store and the metrics share, so both count a request alike.
import type { UsageRecord } from "./types.ts";

/** Whether a request counts as an error: a failure status, an answer cut short, or an error Ollama reported inside one. */
export const failedRequest = (r: UsageRecord): boolean => r.status >= 400 || !r.complete || r.figures.error === true;

/**
 * A request's generation seconds: Ollama's own durations when it reported them (native answers); else, for an
 * answer that came (OpenAI and Anthropic report none), the gateway's clock less the wait for a wake. A request
 * that got no answer at all (a 504 after Ollama stayed silent) generated nothing the gateway can tell: 0.
 */
export function generationSecondsOf(r: UsageRecord): number {
  if (r.figures.generationS !== null) return Math.min(r.figures.generationS, r.totalS);
  return r.ttfbMs === null ? 0 : Math.max(0, r.totalS - r.wakeWaitS);
}

/** Ollama's load time, never more than the request's own. */
export const loadSecondsOf = (r: UsageRecord): number => Math.min(r.figures.loadS ?? 0, r.totalS);
