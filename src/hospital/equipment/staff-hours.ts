import type { PractitionerRole } from '@medplum/fhirtypes';
import { mergedPeriods, type Period } from './maintenance-forecast';

const DAY = 86_400_000;
const DOW = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** hh:mm:ss → ms after midnight. */
function timeOfDay(t: string | undefined): number | undefined {
  const m = t ? /^(\d{2}):(\d{2})(?::(\d{2}))?/.exec(t) : null;
  return m ? ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3] ?? 0)) * 1000 : undefined;
}

/** Whether the role is in force at some point of [from, to). */
function roleInForce(role: PractitionerRole, from: number, to: number): boolean {
  if (role.active === false) return false;
  const start = role.period?.start ? Date.parse(role.period.start) : -Infinity;
  const end = role.period?.end ? Date.parse(role.period.end) : Infinity;
  return start < to && end > from;
}

/**
 * Pure: whether a practitioner's roles make them available for the whole of [from, to), and why not.
 * Times of day are read in UTC. A role without availableTime declares no hours (available at any
 * time); otherwise the window must be covered by the union of the roles' availableTime (daysOfWeek,
 * allDay or availableStartTime–availableEndTime; an end at or before the start runs past midnight),
 * and no notAvailable.during may overlap it. No role in force → not available.
 */
export function staffHours(roles: readonly PractitionerRole[], from: number, to: number): { available: boolean; reasons: string[] } {
  const inForce = roles.filter((r) => roleInForce(r, from, to));
  if (!inForce.length) return { available: false, reasons: ['no PractitionerRole in force'] };
  const reasons: string[] = [];
  const hours: Period[] = [];
  let unrestricted = false;
  for (const role of inForce) {
    if (!role.availableTime?.length) unrestricted = true;
    for (let d = Math.floor(from / DAY) * DAY - DAY; d < to; d += DAY) {
      const dow = DOW[new Date(d).getUTCDay()];
      for (const at of role.availableTime ?? []) {
        if (at.daysOfWeek?.length && !at.daysOfWeek.includes(dow as never)) continue;
        if (at.allDay) hours.push({ start: d, end: d + DAY });
        const s = timeOfDay(at.availableStartTime) ?? 0;
        let e = timeOfDay(at.availableEndTime) ?? DAY;
        if (e <= s) e += DAY;
        if (!at.allDay) hours.push({ start: d + s, end: d + e });
      }
    }
    for (const na of role.notAvailable ?? []) {
      const s = na.during?.start ? Date.parse(na.during.start) : -Infinity;
      const e = na.during?.end ? Date.parse(na.during.end) : Infinity;
      if (s < to && e > from) reasons.push(`not available: ${na.description}`);
    }
  }
  if (!unrestricted) {
    const covered = mergedPeriods(hours, from, to);
    if (!(covered.length === 1 && covered[0].start === from && covered[0].end === to)) reasons.push('outside available hours');
  }
  return { available: reasons.length === 0, reasons };
}
