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
import { ErrorLines } from "./error-lines.ts";
import { endsAsObject, LINE_LIMIT, lastBytes, MarkedLines, TAIL_BYTES } from "./marked-lines.ts";
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
  const errors = new ErrorLines();
  return {
    chunk: (bytes) => {
      lines.push(bytes);
      errors.push(bytes);
    },
    end: () => {
      lines.finish();
      if (errors.reported(sse)) found.error = true;
      return finish();
    },
  };
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
