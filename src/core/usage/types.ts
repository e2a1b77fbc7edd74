// The usage vocabulary, defined once: what one proxied request that generates or embeds leaves behind (a
// UsageRecord, from Ollama's own figures and the gateway's clock), how the records are kept (hourly sums in
// SQLite: store.ts), and how they are read back (/usage, /energy, the metrics, the dashboard).
import type { PowerState } from "../power/states.ts";

/** The endpoint kinds usage is counted by: what the endpoint table says a request does. */
export const UsageKind = { generate: "generate", chat: "chat", embed: "embed", other: "other" } as const;
export type UsageKind = (typeof UsageKind)[keyof typeof UsageKind];
export const USAGE_KINDS: readonly UsageKind[] = Object.values(UsageKind);

/**
 * How an answer reports its figures: Ollama's native fields (`prompt_eval_count`, `eval_count`, durations),
 * OpenAI's `usage` (`prompt_tokens`, `completion_tokens`), the Responses API's `usage` (`input_tokens`,
 * `output_tokens`, in `response.completed` when streamed), Anthropic's `usage` (`input_tokens` in
 * `message_start`, `output_tokens` in `message_delta` when streamed).
 */
export type UsageDialect = "ollama" | "openai" | "responses" | "anthropic";

/** What Ollama reported for one request; a token count it did not report stays null, never guessed. */
export interface Figures {
  promptTokens: number | null;
  completionTokens: number | null;
  /** Ollama's prompt_eval_duration + eval_duration, in seconds (native answers only). */
  generationS: number | null;
  /** Ollama's load_duration, in seconds (native answers only). */
  loadS: number | null;
  /** Ollama reported an error inside an answer that otherwise ended as meant (a runner that crashed mid-stream). */
  error?: boolean;
}

export const NO_FIGURES: Figures = { promptTokens: null, completionTokens: null, generationS: null, loadS: null };

/** One proxied request that generates or embeds, once its answer has ended (or failed, or was cut). */
export interface UsageRecord {
  /** When the request came in (ms since the epoch): the hour it is counted in. */
  at: number;
  /** The key's name (every proxied request has one). */
  key: string;
  /** The person behind a shared frontend: the key's `user_header`, on that key's requests only; else null. */
  user: string | null;
  /** The model the request named, as the gateway folds it (a name no machine reports holding is "other"). */
  model: string;
  machine: string;
  kind: UsageKind;
  /** The status the client got (a cut stream keeps its 200: `complete` says it was cut). */
  status: number;
  /** Whether the answer ended as Ollama meant it to: false for a stream cut by either side, or a failure. */
  complete: boolean;
  figures: Figures;
  /** Request in → first byte of Ollama's answer out, in ms; null when no answer came. */
  ttfbMs: number | null;
  /** How long it waited for the machine to wake, in seconds (0 when it was on). */
  wakeWaitS: number;
  /** Request in → answer ended, in seconds. */
  totalS: number;
}

/** Where the pipeline's account step hands each record: never waits, never throws. */
export interface UsageRecorder {
  record(r: UsageRecord): void;
}

/** Accounting off (USAGE_DB=off, or nothing wired): the account step is skipped, no answer is read. */
export const NO_USAGE: UsageRecorder = { record: () => {} };

/** What /usage can group by: any of these, plus at most one of `day` or `hour` (in TZ). */
export const GROUP_FIELDS = ["key", "user", "model", "machine", "kind"] as const;
export type GroupField = (typeof GROUP_FIELDS)[number];
export type TimeBucket = "day" | "hour";

export interface UsageQuery {
  /** ms since the epoch, inclusive. */
  from: number;
  /** ms since the epoch, exclusive. */
  to: number;
  groupBy: GroupField[];
  bucket?: TimeBucket;
  /** Only this key's rows (a `user` key reading /usage). */
  key?: string;
}

/** The sums an hour row keeps and /usage adds up, by their names on the wire (and in the database). */
export interface UsageSums {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  /** Requests whose token counts Ollama did not report. */
  unreported: number;
  generation_s: number;
  load_s: number;
  wake_wait_s: number;
}

/** What /usage adds to the sums: the median first byte and the energy share. */
export interface UsageDerived {
  ttfb_ms_p50: number | null;
  /** The machine's on-energy shared out by generation seconds in each hour; null when the machine has no watts set. */
  energy_kwh: number | null;
}

/** One row of /usage: the sums of the hours and groups it covers. */
export interface UsageRow extends UsageSums, UsageDerived {
  key?: string;
  user?: string | null;
  model?: string;
  machine?: string;
  kind?: UsageKind;
  /** The day (YYYY-MM-DD) or hour (YYYY-MM-DDTHH:00) in TZ, when grouped by one. */
  day?: string;
  hour?: string;
}

/** A span of time one machine spent in one state (the monitor's changes, kept in the same database). */
export interface PowerInterval {
  machine: string;
  state: PowerState;
  /** ms since the epoch. */
  from: number;
  /** ms since the epoch; the current one ends now. */
  to: number;
  /** Watts a measuring plug reported over it (the mean of its readings), if any. */
  measuredW?: number;
}
