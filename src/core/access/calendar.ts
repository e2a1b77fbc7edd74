// The calendar day and month a key's token quotas count in (TZ), for the limiter of one gateway (limits.ts) and
// the one replicas share (shared-limits.ts): both must start a day at the same instant.
import { wallClock, zonedInstant } from "../../lib/zoned-time.ts";

export interface Period {
  /** Its first instant (ms). */
  start: number;
  /** The first instant of the next one (ms). */
  end: number;
}

export class QuotaCalendar {
  day: Period = { start: 0, end: 0 };
  month: Period = { start: 0, end: 0 };
  private tzGiven: string | undefined;

  /** `tz`: the IANA zone; the process's (TZ) by default, read only once a quota needs it (Intl's zone data is large). */
  constructor(tz?: string) {
    this.tzGiven = tz;
  }

  private get tz(): string {
    this.tzGiven ??= Intl.DateTimeFormat().resolvedOptions().timeZone;
    return this.tzGiven;
  }

  /** Brings the day and the month to `now`; says which of them began anew (both, the first time). */
  at(now: number): { newDay: boolean; newMonth: boolean } {
    if (now < this.day.end && now >= this.day.start) return { newDay: false, newMonth: false };
    const w = wallClock(now, this.tz);
    const dayStart = zonedInstant(w.year, w.month, w.day, this.tz);
    const monthStart = zonedInstant(w.year, w.month, 1, this.tz);
    const newDay = dayStart !== this.day.start;
    const newMonth = monthStart !== this.month.start;
    this.day = { start: dayStart, end: zonedInstant(w.year, w.month, w.day + 1, this.tz) };
    this.month = { start: monthStart, end: zonedInstant(w.year, w.month + 1, 1, this.tz) };
    return { newDay, newMonth };
  }
}
