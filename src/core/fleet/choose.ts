import { PowerState } from "../power/states.ts";

/** What the choice needs to know of a machine, right now. */
export interface Candidate {
  name: string;
  priority: number;
  state: PowerState;
  inFlight: number;
  /** false: AUTO_WAKE is off for it, so a request would find it asleep. */
  canWake: boolean;
}

/**
 * The machine that serves a request for a model held by `candidates` (in the file's order): an awake one
 * with the fewest requests in flight; else one already waking (a second wake would only add a machine);
 * else the sleeping one with the highest priority, the first in the file on a tie. A machine whose Ollama
 * does not answer comes after those, and a sleeping one the gateway may not wake (AUTO_WAKE off) last.
 * Pure: the caller then wakes the one chosen, if it sleeps.
 */
export function chooseMachine(candidates: readonly Candidate[]): Candidate | undefined {
  const rank = (c: Candidate) => {
    if (c.state === PowerState.on) return 0;
    if (c.state === PowerState.waking) return 1;
    if (c.state === PowerState.degraded) return 3;
    return c.canWake ? 2 : 4; // asleep: one the gateway may not wake comes last
  };
  let best: Candidate | undefined;
  for (const c of candidates) {
    if (!best) best = c;
    else if (rank(c) !== rank(best)) best = rank(c) < rank(best) ? c : best;
    else if (rank(c) === 0) best = c.inFlight < best.inFlight ? c : best;
    else best = c.priority > best.priority ? c : best;
  }
  return best;
}
