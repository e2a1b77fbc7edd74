// Reading what Ollama reported about a request (tokens, durations) from its answer as it passes: the reader is
// handed each chunk the client gets, after the fact, and never changes, copies on the way or holds one back.
// Cheap by design, since it sees every chunk of every stream: a chunk is searched (natively) for the one marker
// its dialect puts on the lines that carry figures (`"done":true` on Ollama's final line, `"usage"` on OpenAI's,
// the Responses API's and Anthropic's events), and only those few lines are parsed. A line split across chunks
// is kept until its end (up to LINE_LIMIT; a longer one is skipped: its figures stay unreported). A plain
// answer (no stream) is parsed whole when it is at most PLAIN_LIMIT; a larger one stays unreported.
import type { Streaming } from "../proxy/endpoints.ts";
import { type Figures, NO_FIGURES, type UsageDialect, type UsageKind } from "./types.ts";

/** A line that carries figures is far shorter; a longer one is not kept (its figures stay unreported). */
export const LINE_LIMIT = 64 * 1024;
/** A plain answer is parsed whole up to this; a larger one (a big batch of embeddings) stays unreported. */
export const PLAIN_LIMIT = 1 << 20;

export interface FiguresReader {
  /** A chunk of the answer as it passes (not kept beyond what a split line needs). */
  chunk(bytes: Uint8Array): void;
  /** What was reported, once the answer has ended (or was cut: then whatever came, usually nothing). */
  end(): Figures;
}

/** How an answer streams, from its Content-Type: the type Ollama gave, not what the request asked for. */
export function streamingOf(contentType: string | null): Streaming {
  if (!contentType) return "none";
  if (contentType.includes("ndjson")) return "ndjson";
  return contentType.includes("event-stream") ? "sse" : "none";
}

export function figuresReader(dialect: UsageDialect, streaming: Streaming, kind: UsageKind): FiguresReader {
  const found: Mutable = { ...NO_FIGURES };
  const read = READ[dialect];
  const finish = (): Figures => {
    // An embedding generates nothing: its completion count is 0 whenever Ollama answered with figures at all.
    if (kind === "embed" && found.promptTokens !== null) found.completionTokens = 0;
    return found;
  };
  if (streaming === "none") return plainReader(read, found, finish);
  const onLine = (line: Uint8Array) => {
    const value = parseLine(line, streaming === "sse");
    if (value && typeof value === "object") read(value as Json, found);
  };
  const lines = new MarkedLines(dialect === "ollama" ? DONE : USAGE, onLine);
  return {
    chunk: (bytes) => lines.push(bytes),
    end: () => {
      lines.finish();
      return finish();
    },
  };
}

type Json = Record<string, unknown>;
type Mutable = { -readonly [K in keyof Figures]: Figures[K] };

const utf8 = new TextEncoder();
const text = new TextDecoder();
const DONE = utf8.encode('"done":true');
const USAGE = utf8.encode('"usage"');
const NL = 0x0a;
/** Buffer's native search, on any Uint8Array (a chunk may or may not be a Buffer). */
const search = Buffer.prototype.indexOf as (this: Uint8Array, value: Uint8Array, from: number) => number;

/**
 * Hands on each complete line (without its newline) that holds `marker`; every other line is passed over
 * without a copy. Only the unfinished line at a chunk's end is kept (copied: the chunk goes on to the client).
 */
class MarkedLines {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** The current line grew past LINE_LIMIT: it is skipped up to its end. */
  private skipping = false;

  constructor(
    private readonly marker: Uint8Array,
    private readonly onLine: (line: Uint8Array) => void,
  ) {}

  push(b: Uint8Array): void {
    let from = 0;
    if (this.pendingBytes > 0 || this.skipping) {
      const nl = b.indexOf(NL);
      if (nl < 0) return this.hold(b);
      this.hold(b.subarray(0, nl));
      this.complete();
      from = nl + 1;
    }
    const last = b.lastIndexOf(NL);
    if (last >= from) {
      // The complete lines are b[from, last]: only those with the marker are looked at.
      for (let at = search.call(b, this.marker, from); at >= 0 && at < last; ) {
        const start = b.lastIndexOf(NL, at) + 1;
        const end = b.indexOf(NL, at);
        if (end - start <= LINE_LIMIT) this.onLine(b.subarray(start, end));
        at = search.call(b, this.marker, end + 1);
      }
      from = last + 1;
    }
    if (from < b.length) this.hold(b.subarray(from));
  }

  /** The answer ended: a last line without a newline is a line too. */
  finish(): void {
    this.complete();
  }

  private hold(piece: Uint8Array): void {
    if (this.skipping || piece.length === 0) return;
    if (this.pendingBytes + piece.length > LINE_LIMIT) {
      this.skipping = true;
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    this.pending.push(piece.slice());
    this.pendingBytes += piece.length;
  }

  private complete(): void {
    const pieces = this.pending;
    const skipped = this.skipping;
    this.pending = [];
    this.pendingBytes = 0;
    this.skipping = false;
    if (skipped || pieces.length === 0) return;
    const line = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    if (search.call(line, this.marker, 0) >= 0) this.onLine(line);
  }
}

/** A plain answer: its chunks kept (they are the client's too: no copy) up to PLAIN_LIMIT, parsed at the end. */
function plainReader(read: (o: Json, f: Mutable) => void, found: Mutable, finish: () => Figures): FiguresReader {
  let parts: Uint8Array[] | null = [];
  let size = 0;
  return {
    chunk: (bytes) => {
      if (!parts) return;
      size += bytes.length;
      if (size > PLAIN_LIMIT) parts = null;
      else parts.push(bytes);
    },
    end: () => {
      if (parts && parts.length > 0) {
        const value = parseJson(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
        if (value && typeof value === "object") read(value as Json, found);
      }
      parts = null;
      return finish();
    },
  };
}

function parseLine(line: Uint8Array, sse: boolean): unknown {
  if (!sse) return parseJson(line);
  const s = text.decode(line);
  if (!s.startsWith("data:")) return undefined; // an event name, an id, a comment: no figures
  return parseText(s.slice(5));
}

const parseJson = (bytes: Uint8Array): unknown => parseText(text.decode(bytes));

function parseText(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined; // a malformed line reports nothing; the answer still passed untouched
  }
}

/** A count as reported: a non-negative whole number, else null (never guessed). */
function count(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : null;
}

/** Ollama's durations are in nanoseconds. */
function seconds(...ns: unknown[]): number | null {
  let sum = 0;
  let any = false;
  for (const v of ns) {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) continue;
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
function takeUsage(u: Json | null, found: Mutable, prompt: string, completion: string): void {
  if (!u) return;
  const p = count(u[prompt]);
  const c = count(u[completion]);
  if (p !== null) found.promptTokens = p;
  if (c !== null) found.completionTokens = c;
}

/** Per dialect: what one parsed object (a plain answer, a final line, an event's data) reports. */
const READ: Record<UsageDialect, (o: Json, found: Mutable) => void> = {
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
    if (p !== null) found.promptTokens = p;
    // message_start's output_tokens is a placeholder (0 or 1) until message_delta: only a final count is kept.
    if (c !== null && o.type !== "message_start") found.completionTokens = c;
  },
};
