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
 * own code: a proxied request's, one per request. The native pair and its event dispatch cost CPU on every
 * proxied request (measured: README, "Benchmarks"). Its listeners behave as an
 * AbortSignal's: each runs once, on the first abort; one added twice runs once; one removed by an earlier
 * one, or added after the abort, never runs.
 */
export class Cancel implements CancelSignal {
  #aborted = false;
  #reason: unknown = undefined;
  readonly #listeners = new Set<() => void>();

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  abort(reason: unknown = new DOMException("The operation was aborted.", "AbortError")): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    // A Set is walked live: a listener another one removes meanwhile is skipped.
    for (const listener of this.#listeners) {
      this.#listeners.delete(listener);
      try {
        listener();
      } catch (err) {
        // As an AbortSignal does: a listener that throws is reported, and the others still run.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  addEventListener(_type: "abort", listener: () => void): void {
    if (!this.#aborted) this.#listeners.add(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    this.#listeners.delete(listener);
  }

  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }
}
