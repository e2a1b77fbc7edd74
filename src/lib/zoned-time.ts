// Wall-clock dates and times in an IANA time zone, from Intl alone (Bun carries the zone data): the labels
// a report gives its days and hours, and the instant a date given by a reader starts at.

export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    const opts = { year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", hourCycle: "h23" } as const;
    f = new Intl.DateTimeFormat("en-US", { timeZone: tz, ...opts });
    // A handful of zones per process (TZ, a test's): kept, never grown by input.
    if (formatters.size < 16) formatters.set(tz, f);
  }
  return f;
}

/** The wall clock in `tz` at `ms` (since the epoch). */
export function wallClock(ms: number, tz: string): WallClock {
  const out: WallClock = { year: 0, month: 0, day: 0, hour: 0, minute: 0 };
  for (const p of formatter(tz).formatToParts(ms)) {
    if (p.type === "year" || p.type === "month" || p.type === "day" || p.type === "hour" || p.type === "minute") out[p.type] = Number(p.value);
  }
  return out;
}

const two = (n: number) => String(n).padStart(2, "0");

/** YYYY-MM-DD in `tz`. */
export const dayLabel = (ms: number, tz: string) => {
  const w = wallClock(ms, tz);
  return `${w.year}-${two(w.month)}-${two(w.day)}`;
};

/** YYYY-MM-DDTHH:MM in `tz` (the minutes are 00 but in the few zones half an hour off UTC). */
export const hourLabel = (ms: number, tz: string) => {
  const w = wallClock(ms, tz);
  return `${w.year}-${two(w.month)}-${two(w.day)}T${two(w.hour)}:${two(w.minute)}`;
};

/** How far `tz`'s wall clock is ahead of UTC at `ms`, in ms. */
function offsetAt(ms: number, tz: string): number {
  const w = wallClock(ms, tz);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
  return asUtc - Math.floor(ms / 60_000) * 60_000;
}

/**
 * The instant a wall-clock time in `tz` names. A time a daylight-saving change skips is read with the
 * offset before the change (an hour later on the wall); one it repeats, as its first occurrence.
 */
export function zonedInstant(year: number, month: number, day: number, tz: string, hour = 0, minute = 0): number {
  const asUtc = Date.UTC(year, month - 1, day, hour, minute);
  // The offsets half a day either side: a zone changes its offset at most once in a day.
  const before = asUtc - offsetAt(asUtc - 43_200_000, tz);
  const after = asUtc - offsetAt(asUtc + 43_200_000, tz);
  const names = (t: number) => asUtc - t === offsetAt(t, tz);
  if (names(before) && names(after)) return Math.min(before, after);
  if (names(after) && !names(before)) return after;
  return before;
}

/**
 * An ISO 8601 date (its midnight in `tz`) or date and time (one without an offset is `tz`'s wall clock, as the
 * process reads it when `tz` is its TZ); null for anything else, a day that does not exist (2026-02-30) too.
 */
export function parseInstant(text: string, tz: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(text.trim());
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const check = new Date(Date.UTC(y, mo - 1, d));
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return null;
  if (m[4] === undefined) return zonedInstant(y, mo, d, tz);
  const [h, mi, s] = [Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
  if (h > 23 || mi > 59 || s > 59) return null;
  const ms = m[7] ? Math.floor(Number(m[7]) * 1000) : 0;
  if (m[8] === undefined) return zonedInstant(y, mo, d, tz, h, mi) + s * 1000 + ms;
  const sign = m[8] === "Z" ? 0 : m[8].startsWith("-") ? -1 : 1;
  const off = m[8] === "Z" ? 0 : Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(-2));
  if (off >= 24 * 60) return null;
  return Date.UTC(y, mo - 1, d, h, mi, s, ms) - sign * off * 60_000;
}
