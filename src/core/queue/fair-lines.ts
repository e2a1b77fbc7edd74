// The waiting of one machine's line, kept fair (machine-queue.ts hands out the slots): a line per key, and when
// each key was last served here, so the next waiter is the head of the highest priority's key served least
// recently (pickNext), and within a key the oldest.
import { pickNext, type Waiter } from "./types.ts";

/** Keys remembered as served, at most: the keys configured are fewer; the oldest are forgotten first. */
const MAX_SERVED = 4096;

export class FairLines {
  /** How many wait. */
  size = 0;
  /** Each key's own line, oldest first; a key with none waiting has no entry. */
  private readonly lines = new Map<string, Waiter[]>();
  /** When each key was last served here (a sequence number). */
  private readonly served = new Map<string, number>();
  private seq = 0;
  /** The fair order as last worked out; undefined once someone came, left or was served. */
  private ordered: Waiter[] | undefined;

  /** A number that orders arrivals and services. */
  nextSeq(): number {
    return ++this.seq;
  }

  add(w: Waiter): void {
    const line = this.lines.get(w.key);
    if (line) line.push(w);
    else this.lines.set(w.key, [w]);
    this.size++;
    this.ordered = undefined;
  }

  /** False when it was not waiting (any more). */
  remove(w: Waiter): boolean {
    const line = this.lines.get(w.key);
    const i = line ? line.indexOf(w) : -1;
    if (i < 0) return false;
    line!.splice(i, 1);
    if (line!.length === 0) this.lines.delete(w.key);
    this.size--;
    this.ordered = undefined;
    return true;
  }

  /** The waiter that goes next (still in its line): undefined when none waits. */
  next(): Waiter | undefined {
    return this.size === 0 ? undefined : pickNext(this.lines, this.served);
  }

  markServed(key: string): void {
    this.ordered = undefined;
    this.served.delete(key); // re-inserted: the map's order is also the order served, so the oldest go first
    this.served.set(key, ++this.seq);
    if (this.served.size > MAX_SERVED) this.served.delete(this.served.keys().next().value!);
  }

  /** When the oldest waiter came (undefined: none waits). */
  oldestAt(): number | undefined {
    let oldest: number | undefined;
    for (const line of this.lines.values()) oldest = oldest === undefined ? line[0]!.at : Math.min(oldest, line[0]!.at);
    return oldest;
  }

  /** The waiters in the order they would be served now, if no one came or left meanwhile; kept until the lines change. */
  order(): Waiter[] {
    if (this.ordered) return this.ordered;
    const lines = new Map([...this.lines].map(([k, l]) => [k, [...l]]));
    const served = new Map(this.served);
    const out: Waiter[] = [];
    let seq = this.seq;
    while (lines.size > 0) {
      const w = pickNext(lines, served);
      const line = lines.get(w.key)!;
      line.shift();
      if (line.length === 0) lines.delete(w.key);
      served.set(w.key, ++seq);
      out.push(w);
    }
    this.ordered = out;
    return out;
  }
}
