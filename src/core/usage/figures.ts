// Reading what Ollama reported about a request (tokens, durations) from its answer as it passes: the reader is
// handed each chunk the client gets, after the fact, and never changes, copies on the way or holds one back.
// Cheap by design, since it sees every chunk of every stream: a chunk is searched (natively) for the one marker
// its dialect puts on the lines that carry figures (`"done":true` on Ollama's final line, `"usage"` on OpenAI's,
// the Responses API's and Anthropic's events), and only those few lines are parsed (marked-lines.ts). A plain
// answer (no stream) is parsed whole up to LINE_LIMIT; of a larger one (a big batch of embeddings, a long
// answer) only the tail is kept, where the counts come. An error Ollama reports inside a stream that otherwise
// ends well (a runner that crashed: its last line) marks the request as failed: only a top-level error counts,
// not the word inside an answer's text.
import type { Streaming } from "../proxy/endpoints.ts";
import { fromTail, type Json, READ, type Reading } from "./dialects.ts";
import { endsAsObject, LINE_LIMIT, lastBytes, MarkedLines, search, TAIL_BYTES } from "./marked-lines.ts";
import { type Figures, NO_FIGURES, type UsageDialect, type UsageKind } from "./types.ts";

export { LINE_LIMIT, TAIL_BYTES } from "./marked-lines.ts";

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

const utf8 = new TextEncoder();
const text = new TextDecoder();
const DONE = utf8.encode('"done":true');
const USAGE = utf8.encode('"usage"');
/** Ollama's error line (`{"error":…}`), OpenAI's and Anthropic's error events. */
const ERROR = utf8.encode('"error"');

export function figuresReader(dialect: UsageDialect, streaming: Streaming, kind: UsageKind): FiguresReader {
  const found: Reading = { ...NO_FIGURES };
  const read = READ[dialect];
  const take = (value: unknown) => {
    if (value && typeof value === "object") read(value as Json, found);
  };
  const finish = (): Figures => {
    // An embedding generates nothing: its completion count is 0 whenever Ollama answered with figures at all.
    if (kind === "embed" && found.promptTokens !== null) found.completionTokens = 0;
    const { provisionalPrompt: _, ...figures } = found;
    return figures;
  };
  if (streaming === "none") return plainReader(dialect, take, finish);
  const sse = streaming === "sse";
  const lines = new MarkedLines(
    dialect === "ollama" ? DONE : USAGE,
    (line) => take(parseLine(line, sse)),
    (tail) => take(fromTail(dialect, text.decode(tail), true)),
  );
  // Ollama writes an error as the stream's last line and ends it: only the last RECENT chunks are kept, in a
  // ring, and their last lines read at the end, so a chunk costs one store. A small chunk is the client's own
  // (no copy); of a larger one only its end, copied when it says "error": a stream holds at most
  // RECENT × ERROR_TAIL_BYTES, and a long answer's large chunks allocate nothing for it.
  const ring: (Uint8Array | undefined)[] = new Array(RECENT);
  let n = 0;
  return {
    chunk: (bytes) => {
      lines.push(bytes);
      ring[n++ & (RECENT - 1)] = bytes.length <= ERROR_TAIL_BYTES ? bytes : endOfLarge(bytes);
    },
    end: () => {
      lines.finish();
      if (n > 0) {
        const recent: Uint8Array[] = [];
        for (let i = Math.max(0, n - RECENT); i < n; i++) recent.push(ring[i & (RECENT - 1)]!);
        if (endsInError(Buffer.concat(recent), sse)) found.error = true;
      }
      ring.fill(undefined);
      return finish();
    },
  };
}

/**
 * How many of the last chunks are kept for the error check (a power of two: the ring's index is masked). Ollama
 * writes its error line in one write, so two suffice; each kept chunk outlives its trip to the client, and with
 * 16 the stalled-readers flood of bench:hostile peaked about 20 MB higher.
 */
const RECENT = 2;
const NOTHING = new Uint8Array(0);

/** Of a large chunk, a copy of its end only where it says "error" (a native search, no copy otherwise). */
const endOfLarge = (b: Uint8Array): Uint8Array =>
  search.call(b, ERROR, b.length - ERROR_TAIL_BYTES) >= 0 ? b.slice(b.length - ERROR_TAIL_BYTES) : NOTHING;

/** How much of the answer's end is searched for an error line (Ollama's are a sentence long). */
const ERROR_TAIL_BYTES = 4096;

/**
 * Whether the answer's last lines report an error: a top-level `error` that is not null (Ollama's, OpenAI's),
 * or an event of type error. The word inside an answer's text (a coding answer's "error") is in a string.
 */
function endsInError(recent: Uint8Array, sse: boolean): boolean {
  const end = recent.subarray(Math.max(0, recent.length - ERROR_TAIL_BYTES));
  if (search.call(end, ERROR, 0) < 0) return false;
  const lines = text
    .decode(end)
    .split("\n")
    .filter((l) => l.trim() !== "" && l.includes('"error"'));
  return lines.slice(-3).some((l) => isErrorLine(parseLine(utf8.encode(l.trimEnd()), sse)));
}

/** A plain answer: its chunks kept (they are the client's too: no copy) up to LINE_LIMIT and parsed at the end; past it, only its tail. */
function plainReader(dialect: UsageDialect, take: (value: unknown) => void, finish: () => Figures): FiguresReader {
  let parts: Uint8Array[] | null = [];
  let size = 0;
  let tail: Uint8Array | null = null;
  return {
    chunk: (bytes) => {
      size += bytes.length;
      if (parts && size <= LINE_LIMIT) return void parts.push(bytes);
      if (parts) tail = lastBytes(Buffer.concat(parts), bytes, TAIL_BYTES);
      else tail = lastBytes(tail, bytes, TAIL_BYTES);
      parts = null;
    },
    end: () => {
      if (parts && parts.length > 0) take(parseJson(parts.length === 1 ? parts[0]! : Buffer.concat(parts)));
      else if (tail && endsAsObject(tail)) take(fromTail(dialect, text.decode(tail), true)); // not an answer cut short
      parts = null;
      tail = null;
      return finish();
    },
  };
}

function isErrorLine(value: unknown): boolean {
  if (!value || typeof value !== "object") return false;
  const o = value as Json;
  return (o.error !== undefined && o.error !== null) || o.type === "error";
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
