// Durations as a person reads them in a log line or a message: "idle_min":1, not 1.0006166666666667.

/** Whole seconds. */
export const wholeSeconds = (ms: number): number => Math.round(ms / 1000);

/** Minutes: one decimal below 10 (1.5), whole from there (42). */
export function roundMinutes(ms: number): number {
  const min = ms / 60_000;
  return min < 10 ? Math.round(min * 10) / 10 : Math.round(min);
}
