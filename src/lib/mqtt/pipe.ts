// Both directions of one connection, bounded: what the socket has not taken yet is queued up to a cap (past it the
// link is cut rather than memory grown), and what is read is held to a rate (past it the socket is not read until
// the second is over: the peer then holds the rest, TCP's backpressure, and a flood costs a second's share).
import type { Socket } from "bun";

export class Pipe {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private windowStart = 0;
  private windowBytes = 0;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly socket: Socket<undefined>,
    private readonly limits: { maxPendingBytes: number; maxInputBytesPerS: number },
  ) {}

  /** False when the cap was passed: the caller cuts the link. */
  write(bytes: Uint8Array): boolean {
    if (this.pending.length === 0) {
      const n = Math.max(this.socket.write(bytes), 0);
      if (n === bytes.length) return true;
      bytes = bytes.subarray(n);
    }
    this.pendingBytes += bytes.length;
    if (this.pendingBytes > this.limits.maxPendingBytes) return false;
    this.pending.push(bytes.slice());
    return true;
  }

  /** The socket can take more (its drain event). */
  drain(): void {
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      const n = Math.max(this.socket.write(head), 0);
      this.pendingBytes -= n;
      if (n < head.length) {
        this.pending[0] = head.subarray(n);
        return;
      }
      this.pending.shift();
    }
  }

  /** Counts what was read; past the second's share, reading stops until the second is over. */
  read(bytes: number): void {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowBytes = 0;
    }
    this.windowBytes += bytes;
    if (this.windowBytes <= this.limits.maxInputBytesPerS || this.resumeTimer) return;
    this.socket.pause();
    this.resumeTimer = setTimeout(
      () => {
        this.resumeTimer = undefined;
        this.socket.resume();
      },
      1000 - (now - this.windowStart),
    );
  }

  /** Nothing more is sent or resumed. */
  close(): void {
    clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
    this.pending = [];
    this.pendingBytes = 0;
  }
}
