export interface IdleHooks {
  /** The upstream went silent: stop it, and return a last chunk for the client (an error line), if any. */
  onIdle: () => Uint8Array | null;
  /** The client went away. */
  onCancel: (reason: unknown) => void;
  /** The client stopped taking data: nothing taken for `idleMs`, or more than `maxQueued` bytes behind. */
  onStall: () => void;
  /** Called once, however the stream ends. */
  onEnd: () => void;
}

/** How far (in bytes) a client may fall behind the upstream, beyond what the network buffers hold. */
export const MAX_QUEUED = 64 * 1024;

/**
 * Passes a body through chunk by chunk, untouched, with two idle rules:
 *
 * - The upstream must send something within `idleMs` whenever we wait on it. An idle timeout, not a
 *   cap: a two-hour generation that keeps producing is never cut.
 * - The client must take what is handed to it within `idleMs`, and may not fall more than MAX_QUEUED
 *   behind. The upstream is read as it comes, whatever the client does, because a response body the
 *   gateway stops reading is buffered underneath it (a megabyte or more per stream, measured with Bun's
 *   fetch): a client that stopped reading would otherwise hold that memory, the upstream request, the
 *   in-flight count and any shutdown waiting on it for as long as it keeps its connection open. A slow
 *   reader is fine: the kernel's socket buffers (megabytes) absorb the difference first.
 */
export function watchIdle(source: ReadableStream<Uint8Array>, idleMs: number, hooks: IdleHooks, maxQueued = MAX_QUEUED): ReadableStream<Uint8Array> {
  return new Relay(source.getReader(), idleMs, hooks, maxQueued).stream;
}

interface Reader {
  read(): Promise<{ done: true; value?: Uint8Array } | { done: false; value: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}

class Relay {
  readonly stream: ReadableStream<Uint8Array>;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  /** The upstream is done: ended, failed (with the error), or cut for silence. */
  private upstream: { error?: unknown } | null = null;
  private ended = false;
  private waiting: (() => void) | null = null;
  private stallTimer: ReturnType<typeof setTimeout> | undefined;
  private out!: ReadableStreamDefaultController<Uint8Array>;

  constructor(
    private readonly reader: Reader,
    private readonly idleMs: number,
    private readonly hooks: IdleHooks,
    private readonly maxQueued: number,
  ) {
    this.stream = new ReadableStream<Uint8Array>(
      { start: (ctrl) => void (this.out = ctrl), pull: () => this.pull(), cancel: (reason) => this.cancel(reason) },
      { highWaterMark: 0 },
    );
    void this.pump();
  }

  private async pump(): Promise<void> {
    while (!this.ended) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const silence = new Promise<"idle">((resolve) => (timer = setTimeout(() => resolve("idle"), this.idleMs)));
      let next: Awaited<ReturnType<Reader["read"]>> | "idle";
      try {
        next = await Promise.race([this.reader.read(), silence]);
      } catch (error) {
        return this.upstreamDone({ error }); // the upstream connection broke: the client sees the stream end in error
      } finally {
        clearTimeout(timer);
      }
      if (this.ended) return;
      if (next === "idle") {
        const tail = this.hooks.onIdle();
        if (tail) this.push(tail);
        this.reader.cancel().catch(() => {});
        return this.upstreamDone({});
      }
      if (next.done) return this.upstreamDone({});
      this.push(next.value);
      if (this.queued > this.maxQueued) return this.stall();
    }
  }

  private push(chunk: Uint8Array): void {
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.stallTimer ??= setTimeout(() => this.stall(), this.idleMs);
    this.wake();
  }

  private upstreamDone(how: { error?: unknown }): void {
    this.upstream = how;
    this.wake();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }

  /** The client asks for more: hand over what is queued, or wait for it. */
  private async pull(): Promise<void> {
    this.clearStall();
    if (this.queue.length === 0 && !this.upstream) await new Promise<void>((resolve) => (this.waiting = resolve));
    if (this.ended) return;
    const chunk = this.queue.shift();
    if (chunk) {
      this.queued -= chunk.length;
      this.out.enqueue(chunk);
      if (this.queue.length > 0) this.stallTimer = setTimeout(() => this.stall(), this.idleMs);
      return;
    }
    if (this.upstream?.error !== undefined) this.out.error(this.upstream.error);
    else this.out.close();
    this.end();
  }

  private stall(): void {
    if (this.ended) return;
    this.hooks.onStall();
    this.reader.cancel().catch(() => {});
    this.out.error(new Error("the client stopped reading"));
    this.end();
  }

  private cancel(reason: unknown): void {
    if (this.ended) return;
    this.reader.cancel(reason).catch(() => {});
    this.hooks.onCancel(reason);
    this.end();
  }

  private clearStall(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.clearStall();
    this.wake();
    this.queue.length = 0;
    this.hooks.onEnd();
  }
}
