// The share steps of a proxied request: the key's limits (before anything happens for it) and the chosen
// machine's waiting line (before it is woken or sent anything). Both give back what they took once the
// request has ended, however it ends: the answer's end (the proxy's tap) or a failure (wake.ts's watch).
import type { ApiKey } from "../../core/access/access.ts";
import { type Admission, isRefusal, type Limiter, type LimitRefusal } from "../../core/access/limit-rules.ts";
import type { Endpoint } from "../../core/proxy/endpoints.ts";
import type { Ticket } from "../../core/queue/machine-queue.ts";
import type { GateMetrics } from "../../core/telemetry/metrics.ts";
import type { MachineUnit } from "../../deps.ts";
import { limitAnswer } from "../../http/error-body.ts";
import type { Account } from "./account.ts";
import type { Line } from "./wake.ts";

/**
 * A request that runs a model on the GPU (the endpoint table's generate and embed kinds: chats, completions,
 * embeddings, images, transcriptions): it takes one of its key's places and waits its turn in the machine's line.
 */
export const isGeneration = (endpoint: Endpoint | undefined): boolean => endpoint?.kind === "generate" || endpoint?.kind === "embed";

/**
 * The key's limits: its admission, or the 429 in its client's shape (counted by key and limit). A promise only
 * where the replicas' store is asked (it fails with StoreAwayError, a 503, while the store is away).
 */
export function admitKey(
  d: { limits: Limiter; metrics: Pick<GateMetrics, "limited"> },
  key: ApiKey | null,
  path: string,
  endpoint: Endpoint | undefined,
): Admission | Response | Promise<Admission | Response> {
  if (!key?.limits) return NOT_LIMITED;
  const admitted = d.limits.admit(key.name, key.limits, isGeneration(endpoint));
  const answer = (a: Admission | LimitRefusal) => (isRefusal(a) ? refusedAnswer(d, key, path, a) : a);
  return admitted instanceof Promise ? admitted.then(answer) : answer(admitted);
}

function refusedAnswer(d: { metrics: Pick<GateMetrics, "limited"> }, key: ApiKey, path: string, admitted: LimitRefusal): Response {
  d.metrics.limited(key.name, admitted.limit);
  const quota = admitted.limit === "tokens_per_day" || admitted.limit === "tokens_per_month";
  return limitAnswer(path, `${admitted.detail} (${admitted.limit}); try again in ${admitted.retryAfterS} s`, admitted.retryAfterS, quota);
}

const NOT_LIMITED: Admission = { release: () => {} };

/**
 * A place in the machine's line for a generation: granted at once (no line, or a free slot), or waiting.
 * Throws the 503 of a full line. Other requests (a pull, a show) never queue: undefined.
 */
export function enterLine(
  unit: Pick<MachineUnit, "queue">,
  key: ApiKey | null,
  endpoint: Endpoint | undefined,
  signal: AbortSignal,
  /** The other machines that may take it from the line (spill-over): absent, none. */
  movable?: (to: MachineUnit) => boolean,
): Ticket | undefined {
  if (!isGeneration(endpoint) || unit.queue.limits.maxConcurrent === undefined) return undefined;
  return unit.queue.enter(key?.name ?? "", key?.limits?.priority ?? 0, signal, movable as ((to: unknown) => boolean) | undefined);
}

/** What wake.ts waits on while the ticket waits, and what its comments say meanwhile. */
export function lineOf(unit: Pick<MachineUnit, "name">, ticket: Ticket | undefined): Line | undefined {
  if (!ticket?.ready) return undefined;
  return {
    ready: ticket.ready,
    leave: () => ticket.release(),
    started: () => ticket.started?.(),
    movedTo: () => ticket.movedTo?.(),
    where: () => {
      const at = ticket.position?.();
      return at && `queued on ${unit.name}, position ${at.position} of ${at.of}`;
    },
  };
}

/**
 * The account of a request with the share's release added to its end (the answer's, or a failure's): the
 * account as it is when there is nothing to give back.
 */
export function endingWith(account: Account | undefined, release: (() => void) | undefined): Account | undefined {
  if (!release) return account;
  return {
    answered: (status, headers) => account?.answered(status, headers),
    chunk: (bytes) => account?.chunk(bytes),
    ended: (complete) => {
      account?.ended(complete);
      release();
    },
    waited: (ms) => account?.waited(ms),
    failed: (err) => {
      account?.failed(err);
      release();
    },
  };
}

/** What the request took, given back together; undefined when it took nothing (no limits, no line). */
export function releaseOf(admission: Admission, ticket: Ticket | undefined): (() => void) | undefined {
  if (admission === NOT_LIMITED && !ticket) return undefined;
  return () => {
    ticket?.release();
    admission.release();
  };
}
