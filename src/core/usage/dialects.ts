// What each API's answers report, read from one parsed object (a plain answer, a stream's final line, an
// event's data), and from the tail of one too long to keep. Nothing Ollama sends is trusted: a count is a
// whole number within reason, a duration a finite one, else it stays unreported.
import type { Figures, UsageDialect } from "./types.ts";

export type Json = Record<string, unknown>;
/** The figures being read, and what a dialect keeps until it knows it is final. */
export type Reading = { -readonly [K in keyof Figures]: Figures[K] } & {
  /** Anthropic's message_start input_tokens: Ollama's estimate until message_delta reports the count. */
  provisionalPrompt?: number | null;
};

/** More tokens than any model's context in one request: a larger "count" is not one. */
export const MAX_COUNT = 2 ** 31 - 1;
/** A day in nanoseconds: no single request's duration is longer (the record also caps it at the request's own time). */
const MAX_NS = 86_400e9;

/** A count as reported: a whole number from 0 to MAX_COUNT, else null (never guessed). */
export function count(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_COUNT ? v : null;
}

/** Ollama's durations are in nanoseconds; one out of range is left out. */
function seconds(...ns: unknown[]): number | null {
  let sum = 0;
  let any = false;
  for (const v of ns) {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > MAX_NS) continue;
    sum += v;
    any = true;
  }
  return any ? sum / 1e9 : null;
}

const objectAt = (o: unknown, key: string): Json | null => {
  const v = o && typeof o === "object" ? (o as Json)[key] : undefined;
  return v && typeof v === "object" ? (v as Json) : null;
};

/** Sets what a usage object reports (a later report of the same count replaces an earlier one). */
function takeUsage(u: Json | null, found: Reading, prompt: string, completion: string): void {
  if (!u) return;
  const p = count(u[prompt]);
  const c = count(u[completion]);
  if (p !== null) found.promptTokens = p;
  if (c !== null) found.completionTokens = c;
}

/** Per dialect: what one parsed object reports. */
export const READ: Record<UsageDialect, (o: Json, found: Reading) => void> = {
  ollama: (o, found) => {
    // A streamed answer's final line says done; a plain answer (and an embedding) carries the same fields.
    if (o.done === false) return;
    const p = count(o.prompt_eval_count);
    const c = count(o.eval_count);
    if (p !== null) found.promptTokens = p;
    if (c !== null) found.completionTokens = c;
    // Ollama leaves a zero count out (omitempty): a final line that has the other one means 0.
    if (o.done === true && (p !== null || c !== null)) {
      found.promptTokens ??= 0;
      found.completionTokens ??= 0;
    }
    found.generationS = seconds(o.prompt_eval_duration, o.eval_duration) ?? found.generationS;
    found.loadS = seconds(o.load_duration) ?? found.loadS;
  },
  // Plain answers and a stream's usage chunk (only when asked for with stream_options.include_usage).
  openai: (o, found) => takeUsage(objectAt(o, "usage"), found, "prompt_tokens", "completion_tokens"),
  // A plain answer's usage, or the response.completed event's response.usage.
  responses: (o, found) => {
    const u = objectAt(o, "usage") ?? objectAt(objectAt(o, "response"), "usage");
    takeUsage(u, found, "input_tokens", "output_tokens");
  },
  // message_start's message.usage (input_tokens), message_delta's usage (output_tokens), a plain answer's usage.
  anthropic: (o, found) => {
    const u = objectAt(o, "usage") ?? objectAt(objectAt(o, "message"), "usage");
    if (!u) return;
    const p = count(u.input_tokens);
    const c = count(u.output_tokens);
    // message_start's counts are placeholders (Ollama estimates the input from its length): kept aside, and
    // taken only once message_delta reports the final count. A stream cut before it reports nothing.
    if (o.type === "message_start") {
      found.provisionalPrompt = p;
      return;
    }
    if (p !== null) found.promptTokens = p;
    if (c !== null) {
      found.completionTokens = c;
      found.promptTokens ??= found.provisionalPrompt ?? null;
    }
  },
};

/** `"name": number` at the top of any object, not inside a string (there its quotes are escaped). */
const NUMBER_FIELD = /(?<!\\)"([a-z_]{1,40})"\s*:\s*(-?\d{1,30}(?:\.\d{1,30})?(?:[eE][+-]?\d{1,4})?)(?=\s*[,}])/g;

/**
 * What the tail of an answer or line too long to keep reports: its numeric fields (the last of each name),
 * shaped as the dialect's reader takes them. `final`: the line was marked as one that carries figures.
 */
export function fromTail(dialect: UsageDialect, tail: string, final: boolean): Json {
  const fields: Record<string, number> = {};
  for (const m of tail.matchAll(NUMBER_FIELD)) fields[m[1]!] = Number(m[2]);
  if (dialect === "ollama") return final ? { ...fields, done: true } : fields;
  // The usage objects' count names are their own (prompt_tokens, input_tokens, …): the flat fields serve as one.
  return { usage: fields };
}
