/** What a cancellable operation reads of its signal: an AbortSignal has it, and so has a Cancel. */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
  throwIfAborted(): void;
}

/**
 * An AbortController and its signal in one plain object, for a cancellation that never leaves this process's
 * own code: a proxied request's, one per request. The native pair and its event dispatch cost about 2.5 µs
 * of CPU per proxied request (in-process driver, 51 against 48.5 µs). Each listener runs once, on the first
 * abort; one added after it never runs, as with an AbortSignal.
 */
export class Cancel implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] = [];

  abort(reason: unknown = new DOMException("This operation was aborted", "AbortError")): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = [];
    for (const l of listeners) {
      try {
        l();
      } catch (err) {
        // As an AbortSignal does: a listener that throws is reported, and the others still run.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  addEventListener(_type: "abort", listener: () => void): void {
    if (!this.aborted) this.listeners.push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }
}
