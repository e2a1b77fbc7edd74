// Finding the few lines of a stream that carry figures, as its chunks pass: each chunk is searched natively
// for one marker, and only the lines that hold it are handed on; every other line is passed over without a
// copy. A line split across chunks is kept until its end, up to LINE_LIMIT. A longer one (Ollama's final
// generate line carries the whole `context`, a long Responses answer comes back whole in response.completed)
// is not kept: only its last TAIL_BYTES are, since that is where the counts come, after the long part.

/** A line that carries figures is far shorter, unless it repeats a long answer or context; past it, only its tail is kept. */
export const LINE_LIMIT = 64 * 1024;
/** What is kept of a longer line (or a larger plain answer): its end, where the counts are. */
export const TAIL_BYTES = 4096;

const NL = 0x0a;
/** Buffer's native search, on any Uint8Array (a chunk may or may not be a Buffer). */
export const search = Buffer.prototype.indexOf as (this: Uint8Array, value: Uint8Array, from: number) => number;

/** The last `max` bytes of `a` followed by `b`, as a copy (neither is kept). */
export function lastBytes(a: Uint8Array | null, b: Uint8Array, max: number): Uint8Array {
  if (b.length >= max) return b.slice(b.length - max);
  if (!a || a.length === 0) return b.slice();
  const keep = Math.min(a.length, max - b.length);
  return Buffer.concat([a.subarray(a.length - keep), b]);
}

const EMPTY = new Uint8Array(0);
const CLOSE = 0x7d; // }

/** Whether `b` ends, white space aside, with a closing brace: as a whole JSON object (or SSE data line) does. */
export function endsAsObject(b: Uint8Array): boolean {
  let i = b.length - 1;
  // Go's json.Encoder, which writes Ollama's OpenAI answers, ends each with a newline.
  while (i >= 0 && (b[i] === 0x20 || b[i] === 0x0d || b[i] === 0x09 || b[i] === NL)) i--;
  return i >= 0 && b[i] === CLOSE;
}

export class MarkedLines {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** The current line grew past LINE_LIMIT: only its tail is kept, up to its end. */
  private skipping = false;
  private tail: Uint8Array | null = null;
  /** The marker was seen in the part of a long line that was not kept. */
  private marked = false;

  /**
   * `onLine` gets each complete line (without its newline) that holds the marker; `onTail` the last bytes
   * of such a line that was too long to keep.
   */
  constructor(
    private readonly marker: Uint8Array,
    private readonly onLine: (line: Uint8Array) => void,
    private readonly onTail: (tail: Uint8Array) => void,
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
        else this.onTail(b.subarray(end - TAIL_BYTES, end));
        at = search.call(b, this.marker, end + 1);
      }
      from = last + 1;
    }
    if (from < b.length) this.hold(b.subarray(from));
  }

  /**
   * The answer ended: a last line without a newline is a line too. A long one's tail is read only if it ends
   * as a whole object does: a stream cut inside its final line must not read as one whose counts were 0.
   */
  finish(): void {
    this.complete(true);
  }

  private hold(piece: Uint8Array): void {
    if (piece.length === 0) return;
    if (this.skipping) {
      // The marker may straddle the previous piece and this one: the tail's last bytes are searched with it.
      if (!this.marked) {
        const carry = this.tail ? this.tail.subarray(Math.max(0, this.tail.length - this.marker.length + 1)) : EMPTY;
        this.marked = search.call(Buffer.concat([carry, piece.subarray(0, this.marker.length - 1)]), this.marker, 0) >= 0;
        this.marked ||= search.call(piece, this.marker, 0) >= 0;
      }
      this.tail = lastBytes(this.tail, piece, TAIL_BYTES);
      return;
    }
    if (this.pendingBytes + piece.length > LINE_LIMIT) {
      const kept = Buffer.concat([...this.pending, piece]); // once per long line: searched across the join
      this.skipping = true;
      this.marked = search.call(kept, this.marker, 0) >= 0;
      this.tail = lastBytes(null, kept, TAIL_BYTES);
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    this.pending.push(piece.slice()); // a copy: the chunk goes on to the client
    this.pendingBytes += piece.length;
  }

  private complete(atEnd = false): void {
    const { pending, skipping, tail, marked } = this;
    this.pending = [];
    this.pendingBytes = 0;
    this.skipping = false;
    this.tail = null;
    this.marked = false;
    if (skipping) {
      if (tail && (marked || search.call(tail, this.marker, 0) >= 0) && (!atEnd || endsAsObject(tail))) this.onTail(tail);
      return;
    }
    if (pending.length === 0) return;
    const line = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    if (search.call(line, this.marker, 0) >= 0) this.onLine(line);
  }
}
