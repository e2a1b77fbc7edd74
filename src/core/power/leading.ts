// Who may act on a machine. A single gateway always may. Among replicas sharing one state (core/replica/), only
// the one holding the machine's lock may probe it, send its packets, shut it down and run its timers; the others
// follow the state it writes, and send it what only it may do. The power modules see only this interface.
import type { MachineProbe } from "../machine/machine.ts";
import type { ReleaseDecision } from "./rules.ts";
import { isUp, PowerState } from "./states.ts";

/** What a replica that does not lead asks the one that does, and what each answers. */
export interface LeaderOps {
  /** Wakes the machine if it sleeps (probeAndWake): whether this call sent the wake. */
  wake: (reason: string) => Promise<boolean>;
  /** The last lease went: shut down now, later or not, as the leader's probe and the summed requests say. */
  lastLeaseGone: () => Promise<ReleaseDecision>;
  /** The forced shutdown (POST /shutdown). */
  shutdown: () => Promise<{ sent: boolean; deferred: boolean }>;
}

export interface Lead {
  /** true among replicas: a new leader carries on from the shared state what the last one left under way. */
  readonly shared: boolean;
  /** Whether this process may act on the machine right now. */
  leading(): boolean;
  /** Runs `op` where the machine is led: here when leading, else on the leader, through the shared store. */
  call<K extends keyof LeaderOps>(op: K, ...args: Parameters<LeaderOps[K]>): Promise<Awaited<ReturnType<LeaderOps[K]>>>;
  /** Where a call is run when it reaches this process while it leads (set once, by the power operations). */
  serve(ops: LeaderOps): void;
}

/** One gateway: it always leads, and every call runs here. */
export function soleLead(): Lead {
  let ops: LeaderOps | undefined;
  return {
    shared: false,
    leading: () => true,
    call: (op, ...args) => (ops![op] as (...a: unknown[]) => Promise<never>)(...args),
    serve: (o) => {
      ops = o;
    },
  };
}

/** A follower's probe: what the leader's last state says, not a look of its own at the machine. */
export function probeOfState(state: PowerState): MachineProbe {
  const host = isUp(state) || state === PowerState.shuttingDown;
  const ollama = state === PowerState.on;
  return {
    host: host ? { ok: true, ms: 0 } : { ok: false, ms: 0, error: "the leading replica last saw it dark" },
    ollama: ollama ? { ok: true, ms: 0, models: [], raw: null } : { ok: false, ms: 0, error: "the leading replica last saw Ollama down" },
  };
}
