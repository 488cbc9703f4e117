import type { PractitionerRole } from '@medplum/fhirtypes';
import { staffHours } from './staff-hours';

const role = (extra: Partial<PractitionerRole> = {}): PractitionerRole => ({ resourceType: 'PractitionerRole', practitioner: { reference: 'Practitioner/p' }, ...extra });
const weekdays9to17 = role({ availableTime: [{ daysOfWeek: ['mon', 'tue', 'wed', 'thu', 'fri'], availableStartTime: '09:00:00', availableEndTime: '17:00:00' }] });
const at = (s: string) => Date.parse(s);

describe('staffHours', () => {
  it('is available inside the hours (2026-11-27 is a Friday)', () => {
    expect(staffHours([weekdays9to17], at('2026-11-27T09:00:00Z'), at('2026-11-27T17:00:00Z'))).toEqual({ available: true, reasons: [] });
  });
  it('is not available when the window leaves the hours or falls on a weekend', () => {
    expect(staffHours([weekdays9to17], at('2026-11-27T16:00:00Z'), at('2026-11-27T18:00:00Z')).reasons).toEqual(['outside available hours']);
    expect(staffHours([weekdays9to17], at('2026-11-28T10:00:00Z'), at('2026-11-28T11:00:00Z')).available).toBe(false);
  });
  it('joins the hours of several roles and runs an end before the start past midnight', () => {
    const night = role({ availableTime: [{ availableStartTime: '17:00:00', availableEndTime: '01:00:00' }] });
    expect(staffHours([weekdays9to17, night], at('2026-11-27T15:00:00Z'), at('2026-11-28T00:30:00Z')).available).toBe(true);
  });
  it('notAvailable overlapping the window, inactive roles and no role make the person unavailable', () => {
    const away = role({ ...weekdays9to17, notAvailable: [{ description: 'Conference', during: { start: '2026-11-27T12:00:00Z', end: '2026-11-27T13:00:00Z' } }] });
    expect(staffHours([away], at('2026-11-27T09:00:00Z'), at('2026-11-27T12:30:00Z')).reasons).toEqual(['not available: Conference']);
    expect(staffHours([away], at('2026-11-27T09:00:00Z'), at('2026-11-27T12:00:00Z')).available).toBe(true);
    expect(staffHours([role({ active: false })], at('2026-11-27T09:00:00Z'), at('2026-11-27T10:00:00Z')).reasons).toEqual(['no PractitionerRole in force']);
    expect(staffHours([], 0, 1).available).toBe(false);
  });
  it('a role without availableTime declares no hours', () => {
    expect(staffHours([role()], at('2026-11-28T02:00:00Z'), at('2026-11-28T03:00:00Z')).available).toBe(true);
  });
});
