/**
 * Predictive maintenance, method `usage-hours-linear` 1.0.0 (pure). Hours of use since the last
 * maintenance are the union of the usage periods after it (overlapping statements are not counted
 * twice). The rate of use is the hours used in the last 30 days (or since the maintenance, if more
 * recent) per day of that window, at least one day; extrapolated linearly it gives the date the
 * interval is reached (or the day it was reached, from the periods themselves, when overdue).
 * Flagged when the hours used reach 90% of the interval, or the predicted date is within 14 days.
 */
export const MAINTENANCE_METHOD = 'usage-hours-linear';
export const MAINTENANCE_METHOD_VERSION = '1.0.0';
export const FLAG_SHARE = 0.9;
export const FLAG_HORIZON_DAYS = 14;
export const RATE_WINDOW_DAYS = 30;

const HOUR = 3_600_000;
const DAY = 86_400_000;

export interface Period {
  start: number;
  end: number;
}

export interface MaintenanceInput {
  intervalHours: number;
  /** Last maintenance (ms); absent: counted from the first use. */
  lastMaintenance?: number;
  usages: readonly Period[];
  now: number;
}

export interface MaintenanceForecast {
  method: string;
  method_version: string;
  generated_at: string;
  flag: boolean;
  reason: string;
  interval_hours: number;
  hours_since_maintenance: number;
  rate_hours_per_day: number;
  /** YYYY-MM-DD the interval is (or was) reached; null when not used lately and not yet reached. */
  predicted_date: string | null;
  last_maintenance: string | null;
}

/** The periods clipped to [from, to), merged, sorted. */
export function mergedPeriods(periods: readonly Period[], from: number, to: number): Period[] {
  const clipped = periods
    .map((p) => ({ start: Math.max(p.start, from), end: Math.min(p.end, to) }))
    .filter((p) => p.end > p.start)
    .sort((a, b) => a.start - b.start);
  const out: Period[] = [];
  for (const p of clipped) {
    const last = out[out.length - 1];
    if (last && p.start <= last.end) last.end = Math.max(last.end, p.end);
    else out.push({ ...p });
  }
  return out;
}

const hoursOf = (ps: readonly Period[]) => ps.reduce((s, p) => s + (p.end - p.start), 0) / HOUR;
const round2 = (n: number) => Math.round(n * 100) / 100;
const day = (t: number) => new Date(t).toISOString().slice(0, 10);

/** A version of the method: its name, version and parameters (ai_models, task predictive-maintenance). */
export interface MaintenanceMethod {
  name: string;
  version: string;
  flagShare: number;
  flagHorizonDays: number;
  rateWindowDays: number;
}
export const MAINTENANCE_METHOD_1: MaintenanceMethod = {
  name: MAINTENANCE_METHOD,
  version: MAINTENANCE_METHOD_VERSION,
  flagShare: FLAG_SHARE,
  flagHorizonDays: FLAG_HORIZON_DAYS,
  rateWindowDays: RATE_WINDOW_DAYS,
};

export function forecastMaintenance(input: MaintenanceInput, method: MaintenanceMethod = MAINTENANCE_METHOD_1): MaintenanceForecast {
  const { flagShare, flagHorizonDays, rateWindowDays } = method;
  const { intervalHours, now } = input;
  const firstUse = input.usages.reduce((m, p) => Math.min(m, p.start), Infinity);
  const since = input.lastMaintenance ?? (Number.isFinite(firstUse) ? firstUse : now);
  const used = mergedPeriods(input.usages, since, now);
  const hours = hoursOf(used);
  const windowStart = Math.max(since, now - rateWindowDays * DAY);
  const windowDays = Math.max(1, (now - windowStart) / DAY);
  const rate = hoursOf(mergedPeriods(used, windowStart, now)) / windowDays;

  let predicted: number | undefined;
  if (hours >= intervalHours) {
    // the instant the cumulative use reached the interval
    let acc = 0;
    for (const p of used) {
      const h = (p.end - p.start) / HOUR;
      if (acc + h >= intervalHours) {
        predicted = p.start + (intervalHours - acc) * HOUR;
        break;
      }
      acc += h;
    }
  } else if (rate > 0) {
    predicted = now + ((intervalHours - hours) / rate) * DAY;
  }

  const h = round2(hours);
  let flag = true;
  let reason: string;
  if (hours >= intervalHours) reason = `Overdue: ${h} h of use since maintenance, interval ${intervalHours} h`;
  else if (hours >= flagShare * intervalHours) reason = `${h} h of ${intervalHours} h used (${flagShare * 100}% reached)`;
  else if (predicted !== undefined && predicted - now <= flagHorizonDays * DAY) {
    reason = `At ${round2(rate)} h/day the ${intervalHours} h interval is reached on ${day(predicted)} (within ${flagHorizonDays} days)`;
  } else {
    flag = false;
    reason = predicted !== undefined ? `${h} h of ${intervalHours} h used; interval reached on ${day(predicted)} at ${round2(rate)} h/day` : `${h} h of ${intervalHours} h used; not used lately`;
  }
  return {
    method: method.name,
    method_version: method.version,
    generated_at: new Date(now).toISOString(),
    flag,
    reason,
    interval_hours: intervalHours,
    hours_since_maintenance: h,
    rate_hours_per_day: round2(rate),
    predicted_date: predicted !== undefined ? day(predicted) : null,
    last_maintenance: input.lastMaintenance !== undefined ? new Date(input.lastMaintenance).toISOString() : null,
  };
}
