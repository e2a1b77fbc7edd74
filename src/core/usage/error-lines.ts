// Whether an answer that ended as meant reports an error: Ollama ends a stream with its error line when a runner
// crashes (`{"error":…}`; OpenAI's `data: {"error":…}`, Anthropic's and the Responses API's error events). Only
// a top-level error counts: the word inside an answer's text (a coding answer says "error" all the time) is in a
// string, its quotes escaped. Each chunk is searched at its end for the word, natively; what could hold the line
// (the end that says it, a line that goes on into the next chunk) is copied, at most ERROR_TAIL_BYTES, and the
// last two such pieces are read when the answer ends. A typical chunk (whole lines, no error) costs one search
// and keeps nothing: a kept reference to a chunk would keep its whole socket read alive.
import { search } from "./marked-lines.ts";

/** How much of a chunk's end is searched, and the most any piece keeps (Ollama's error lines are a sentence long). */
const ERROR_TAIL_BYTES = 4096;
const NL = 0x0a;
const ERROR = new TextEncoder().encode('"error"');
const NOTHING = new Uint8Array(0);
const text = new TextDecoder();

export class ErrorLines {
  private previous: Uint8Array<ArrayBufferLike> = NOTHING;
  private last: Uint8Array<ArrayBufferLike> = NOTHING;
  /** The last chunk ended inside a line: the next chunk's first line is its rest. */
  private open = false;

  push(b: Uint8Array): void {
    if (b.length === 0) return;
    const endsLine = b[b.length - 1] === NL;
    const from = Math.max(0, b.length - ERROR_TAIL_BYTES);
    let piece: Uint8Array<ArrayBufferLike> = NOTHING;
    if (search.call(b, ERROR, from) >= 0) piece = b.slice(from);
    else if (this.open || !endsLine) piece = this.openLines(b, endsLine);
    this.open = !endsLine;
    this.previous = this.last;
    this.last = piece;
  }

  /** A copy of the rest of a line begun in the last chunk, and of the start of one going on into the next. */
  private openLines(b: Uint8Array, endsLine: boolean): Uint8Array {
    const first = b.indexOf(NL);
    if (first < 0) return b.length <= ERROR_TAIL_BYTES ? b.slice() : NOTHING; // all one line's middle
    const head = this.open && first < ERROR_TAIL_BYTES ? b.subarray(0, first + 1) : NOTHING;
    const start = endsLine ? b.length : b.lastIndexOf(NL) + 1;
    const tail = b.length - start <= ERROR_TAIL_BYTES ? b.subarray(start) : NOTHING;
    return Buffer.concat([head, tail]);
  }

  /** Whether the answer's last lines report an error (`sse`: its lines are `data:` lines). */
  reported(sse: boolean): boolean {
    const end = Buffer.concat([this.previous, this.last]);
    this.previous = this.last = NOTHING;
    if (search.call(end, ERROR, 0) < 0) return false;
    const lines = text
      .decode(end)
      .split("\n")
      .filter((l) => l.includes('"error"'));
    return lines.slice(-3).some((l) => isErrorLine(parse(l.trim(), sse)));
  }
}

function parse(line: string, sse: boolean): unknown {
  if (sse && !line.startsWith("data:")) return undefined;
  try {
    return JSON.parse(sse ? line.slice(5) : line);
  } catch {
    return undefined;
  }
}

/** A top-level error that is not null (Ollama's, OpenAI's), an error event, or the Responses API's failure. */
function isErrorLine(value: unknown): boolean {
  if (!value || typeof value !== "object") return false;
  const o = value as Record<string, unknown>;
  return (o.error !== undefined && o.error !== null) || o.type === "error" || o.type === "response.failed";
}
