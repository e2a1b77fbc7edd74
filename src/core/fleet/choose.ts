import { isAsleep, PowerState } from "../power/states.ts";

/** What the choice needs to know of a machine, right now. */
export interface Candidate {
  name: string;
  priority: number;
  state: PowerState;
  inFlight: number;
  /** false: AUTO_WAKE is off for it, so a request would find it asleep. */
  canWake: boolean;
  /** The request's model is in its memory (its Ollama's /api/ps, as last read). */
  loaded: boolean;
  /** A request would run at once: a free slot and nobody waiting (always, without max_concurrent). */
  free: boolean;
  /** How many requests wait in its queue. */
  queued: number;
  /** How long its queue's oldest request has waited, in ms (0: none waits). */
  oldestWaitMs: number;
  /** Its spill_after_s in ms: how long its queue's head may wait before a sleeping machine is woken instead; undefined: never. */
  spillAfterMs: number | undefined;
}

/**
 * Ranks, best first: awake with the model loaded and a free slot; awake with a free slot; awake (its queue);
 * waking (a second wake would only add a machine); asleep, to be woken; awake but its Ollama does not answer;
 * asleep and the gateway may not wake it.
 */
function rankOf(c: Candidate): number {
  if (c.state === PowerState.on) return c.free ? (c.loaded ? 0 : 1) : 2;
  if (c.state === PowerState.waking) return 3;
  if (c.state === PowerState.degraded) return 5;
  return c.canWake ? 4 : 6;
}

/** Within one rank: awake ones by the shortest queue, then the fewest in flight; the others by priority. */
function better(a: Candidate, b: Candidate, rank: number): boolean {
  if (rank > 2) return a.priority > b.priority;
  if (a.queued !== b.queued) return a.queued < b.queued;
  return a.inFlight < b.inFlight;
}

/** The best of `candidates` by rank, then within its rank; the first in the file on a tie. */
function best(candidates: readonly Candidate[]): Candidate | undefined {
  let top: Candidate | undefined;
  let topRank = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const r = rankOf(c);
    if (r < topRank || (r === topRank && better(c, top!, r))) {
      top = c;
      topRank = r;
    }
  }
  return top;
}

/** Every awake holder is busy and the best one's queue has waited past its spill_after_s. */
function spills(awake: Candidate | undefined): boolean {
  if (!awake || awake.state !== PowerState.on || awake.free) return false;
  return awake.spillAfterMs !== undefined && awake.queued > 0 && awake.oldestWaitMs > awake.spillAfterMs;
}

/**
 * The machine that serves a request for a model held by `candidates` (in the file's order), by rankOf; within
 * a rank, an awake machine with the shortest queue and then the fewest requests in flight, any other the
 * highest priority, the first in the file on a tie. Spill-over: when no awake machine has a free slot and the
 * best one's queue has waited longer than its spill_after_s, a machine already waking takes the request, else
 * the sleeping one with the highest priority that the gateway may wake, woken for it (none: the queue it is).
 * Pure: the caller then wakes the one chosen, if it sleeps. `mayWait` false (a request that never queues): no spill.
 */
export function chooseMachine(candidates: readonly Candidate[], mayWait = true): Candidate | undefined {
  const chosen = best(candidates);
  // Only a request that would wait in the line (a generation) is worth a wake of its own.
  if (!mayWait || !spills(chosen)) return chosen;
  const elsewhere = candidates.filter((c) => c.canWake && (c.state === PowerState.waking || isAsleep(c.state)));
  return best(elsewhere) ?? chosen;
}
