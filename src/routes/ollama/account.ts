// The account step: a proxied request that generates or embeds (the endpoint table's `usage`) leaves one usage
// record — who (the key, and the person its user_header names), which model on which machine, what Ollama
// reported (read from the answer as it passes: core/usage/figures.ts) and what the gateway measured (time to
// first byte, the wait for a wake, the total). Recorded exactly once, however the request ends: its answer
// ended or was cut (the proxy's tap: core/proxy/forward.ts), or it failed once a machine was chosen (wake.ts).
import type { ApiKey } from "../../core/access/access.ts";
import { GatewayError } from "../../core/errors.ts";
import { normalizeModel } from "../../core/fleet/model-index.ts";
import type { Endpoint } from "../../core/proxy/endpoints.ts";
import type { AnswerTap } from "../../core/proxy/forward.ts";
import { type FiguresReader, figuresReader, streamingOf } from "../../core/usage/figures.ts";
import { NO_FIGURES, type UsageRecorder } from "../../core/usage/types.ts";
import type { AppDeps } from "../../deps.ts";
import type { WaitWatch } from "./wake.ts";

/** What the usage's `user` keeps of a header's value (the store cuts it so too). */
const USER_CHARS = 128;
/** A request's model when it names none the fleet knows: the metrics' and the store's labels stay few. */
export const OTHER_MODEL = "other";

/** What the account step reads of a request. */
export interface Accountable {
  key: ApiKey | null;
  endpoint: Endpoint | undefined;
  fields: Map<string, string> | null;
  /** A streamed body's fields from what has passed of it (called once the request has ended). */
  noteFields?: () => void;
  /** The request's headers as they go upstream (a user_header is read here: it is forwarded unchanged). */
  req: Request;
}

/** When the request came in: the record's hour (`at`, epoch ms) and its clock (performance.now()). */
export interface Arrival {
  at: number;
  t0: number;
}

const clock = () => performance.now();

/** A request's arrival, from its performance.now() as it came: the hour it counts in (epoch ms) and its clock. */
export const arrivalOf = (started: number): Arrival => ({ at: Date.now() - (performance.now() - started), t0: started });

/** The tap and the watch of one counted request; records once. */
export type Account = AnswerTap & WaitWatch;

/** The model as the record names it: the fleet's spelling of one a machine holds, else "other". */
export function foldedModel(index: AppDeps["fleet"]["index"], named: string | undefined): string {
  if (!named || index.holders(named).length === 0) return OTHER_MODEL;
  return normalizeModel(named);
}

/** The person a key's user_header names on this request; none for a key that declares no header. */
export function userOf(key: ApiKey | null, headers: Headers): string | null {
  if (!key?.userHeader) return null;
  const value = headers.get(key.userHeader)?.trim();
  return value ? value.slice(0, USER_CHARS) : null;
}

/**
 * The account of one request to `machine`, or none when its endpoint is not counted. Never throws into the
 * answer's path: a reader that fails leaves the tokens unreported, the bytes pass as they are.
 */
export function accountFor(
  deps: Pick<AppDeps, "usage" | "fleet">,
  call: Accountable,
  /** Its name, or how to read it when the request ends (spill-over may move a waiting request to another). */
  machine: string | (() => string),
  arrival: Arrival,
  now: () => number = clock,
): Account | undefined {
  const usage = call.endpoint?.usage;
  if (!usage) return undefined;
  const user = userOf(call.key, call.req.headers);
  const recorder: UsageRecorder = deps.usage;
  let reader: FiguresReader | null = null;
  let status = 0;
  let answeredAt: number | null = null;
  let firstByteAt: number | null = null;
  let wakeWaitS = 0;
  let done = false;

  const record = (complete: boolean) => {
    done = true;
    // Named when the request has ended: a streamed body's model is read as it passes, and a machine that was
    // asleep has told the fleet its models by now (before, its model would have been "other").
    if (!call.fields) call.noteFields?.();
    const named = call.fields ? call.endpoint!.model.map((f) => call.fields!.get(f)).find((m) => m) : undefined;
    const model = foldedModel(deps.fleet.index, named);
    let figures = NO_FIGURES;
    try {
      if (reader) figures = reader.end();
    } catch {}
    const first = firstByteAt ?? answeredAt;
    try {
      recorder.record({
        at: arrival.at,
        key: call.key?.name ?? "",
        user,
        model,
        machine: typeof machine === "string" ? machine : machine(),
        kind: usage.kind,
        status,
        complete,
        figures,
        ttfbMs: first === null ? null : first - arrival.t0,
        wakeWaitS,
        totalS: (now() - arrival.t0) / 1000,
      });
    } catch {} // a recorder that fails must not fail the answer (the store counts its own failures)
  };

  return {
    answered(s, headers) {
      if (done) return;
      status = s;
      answeredAt = now();
      reader = figuresReader(usage.dialect, streamingOf(headers.get("content-type")), usage.kind);
    },
    chunk(bytes) {
      if (done) return;
      firstByteAt ??= now();
      try {
        reader?.chunk(bytes);
      } catch {
        reader = null; // the figures stay unreported; the stream goes on untouched
      }
    },
    ended(complete) {
      if (!done) record(complete);
    },
    waited(ms) {
      wakeWaitS += ms / 1000;
    },
    failed(err) {
      if (done || answeredAt !== null) return; // an answer came: its end records it
      status = err instanceof GatewayError ? err.status : 500;
      // Refused by the gateway itself (a 4xx but a client that left): it never reached a GPU, no usage row.
      if (status < 500 && status !== 499) {
        done = true;
        return;
      }
      record(false);
    },
  };
}
