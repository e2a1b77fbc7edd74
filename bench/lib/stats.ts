// The little arithmetic of paired rounds.

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The median of the values that exist: a target skipped in some round does not turn the whole figure into n/a. */
export function medianOf(xs: (number | null | undefined)[]): number | null {
  const present = xs.filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  return present.length ? median(present) : null;
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return typeof a === "number" && typeof b === "number" && b !== 0 && Number.isFinite(a) && Number.isFinite(b) ? a / b : null;
}

/**
 * The median over rounds of a figure computed within each round (a ratio, a difference). On a machine whose
 * speed drifts by tens of percent from hour to hour, two targets measured seconds apart compare better than
 * two medians taken over the whole run.
 */
export function pairedMedian<R>(rounds: R[], within: (round: R) => number | null | undefined): number | null {
  return medianOf(rounds.map(within));
}
