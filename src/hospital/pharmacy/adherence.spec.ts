import type { MedicationRequest } from '@medplum/fhirtypes';
import { adherenceRate, doseInterval, expectedDoses } from './adherence';

const mr = (extra: Partial<MedicationRequest>): MedicationRequest => ({
  resourceType: 'MedicationRequest',
  status: 'active',
  intent: 'order',
  subject: { reference: 'Patient/p' },
  medicationCodeableConcept: { text: 'x' },
  authoredOn: '2026-11-01T00:00:00Z',
  ...extra,
});
const taken = (n: number) => Array.from({ length: n }, () => ({ taken: true }));
const missed = (n: number) => Array.from({ length: n }, () => ({ taken: false }));
const HOUR = 3_600_000;

describe('adherence', () => {
  it('reads the dose interval from frequency/period, timeOfDay and the GTS codes', () => {
    expect(doseInterval({ repeat: { frequency: 2, period: 1, periodUnit: 'd' } })).toBe(12 * HOUR);
    expect(doseInterval({ repeat: { frequency: 1, period: 8, periodUnit: 'h' } })).toBe(8 * HOUR);
    expect(doseInterval({ repeat: { timeOfDay: ['08:00:00', '14:00:00', '20:00:00'] } })).toBe(8 * HOUR);
    expect(doseInterval({ code: { coding: [{ code: 'TID' }] } })).toBe(8 * HOUR);
    expect(doseInterval({ repeat: { frequency: 1, period: 1, periodUnit: 'wk' } })).toBe(7 * 24 * HOUR);
    expect(doseInterval({})).toBeUndefined();
  });

  it('expects the doses due in the bounds (a date-only end includes its day), never beyond now', () => {
    const week = mr({ dosageInstruction: [{ timing: { repeat: { frequency: 2, period: 1, periodUnit: 'd', boundsPeriod: { start: '2026-11-01', end: '2026-11-07' } } } }] });
    expect(expectedDoses(week, new Date('2026-12-01T00:00:00Z'))).toBe(14);
    // Mid-way: 2026-11-03T13:00 is 2 days 13 h after the start: doses at 0, 12, 24, 36, 48, 60 h are due.
    expect(expectedDoses(week, new Date('2026-11-03T13:00:00Z'))).toBe(6);
    expect(expectedDoses(week, new Date('2026-10-01T00:00:00Z'))).toBe(0);
  });

  it('starts at authoredOn without bounds, and honours boundsDuration and repeat.count', () => {
    const open = mr({ dosageInstruction: [{ timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } } }] });
    expect(expectedDoses(open, new Date('2026-11-10T12:00:00Z'))).toBe(10);
    const fiveDays = mr({ dosageInstruction: [{ timing: { repeat: { frequency: 3, period: 1, periodUnit: 'd', boundsDuration: { value: 5, code: 'd', unit: 'days' } } } }] });
    expect(expectedDoses(fiveDays, new Date('2027-01-01T00:00:00Z'))).toBe(15);
    const counted = mr({ dosageInstruction: [{ timing: { repeat: { count: 4, frequency: 1, period: 1, periodUnit: 'd' } } }] });
    expect(expectedDoses(counted, new Date('2027-01-01T00:00:00Z'))).toBe(4);
  });

  it('sums instructions and ignores as-needed ones', () => {
    const both = mr({
      dosageInstruction: [
        { timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd', boundsPeriod: { start: '2026-11-01', end: '2026-11-02' } } } },
        { asNeededBoolean: true, timing: { repeat: { frequency: 4, period: 1, periodUnit: 'd' } } },
      ],
    });
    expect(expectedDoses(both, new Date('2027-01-01T00:00:00Z'))).toBe(2);
    expect(expectedDoses(mr({ dosageInstruction: [{ asNeededBoolean: true }] }), new Date())).toBeUndefined();
  });

  it('is taken / expected, capped at 1, two decimals; the recorded events when nothing is scheduled', () => {
    const week = mr({ dosageInstruction: [{ timing: { repeat: { frequency: 2, period: 1, periodUnit: 'd', boundsPeriod: { start: '2026-11-01', end: '2026-11-07' } } } }] });
    const asOf = new Date('2026-12-01T00:00:00Z');
    expect(adherenceRate(week, [...taken(10), ...missed(2)], asOf)).toBe(0.71);
    expect(adherenceRate(week, taken(20), asOf)).toBe(1);
    expect(adherenceRate(week, missed(1), asOf)).toBe(0);
    expect(adherenceRate(week, [], asOf)).toBeUndefined();
    const prn = mr({ dosageInstruction: [{ asNeededBoolean: true }] });
    expect(adherenceRate(prn, [...taken(3), ...missed(1)], asOf)).toBe(0.75);
    expect(adherenceRate(prn, [], asOf)).toBeUndefined();
  });

  it('counts events of one instant and outcome once (one dose recorded twice)', () => {
    const week = mr({ dosageInstruction: [{ timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd', boundsPeriod: { start: '2026-11-01', end: '2026-11-04' } } } }] });
    const asOf = new Date('2026-12-01T00:00:00Z');
    const at = (day: number) => Date.parse(`2026-11-0${day}T08:00:00Z`);
    // 4 doses due; day 1 recorded four times, day 2 once: 2 of 4, not 5 of 4.
    const dupes = [1, 1, 1, 1, 2].map((d) => ({ taken: true, at: at(d) }));
    expect(adherenceRate(week, dupes, asOf)).toBe(0.5);
    // Two outcomes at one instant are two records that disagree: both count.
    expect(adherenceRate(week, [{ taken: false, at: at(3) }, { taken: true, at: at(3) }], asOf)).toBe(0.25);
    expect(adherenceRate(week, [{ taken: false, at: at(3) }, { taken: false, at: at(3) }, { taken: true, at: at(4) }], asOf)).toBe(0.25);
    // Without a time each event counts (nothing says they are the same dose).
    expect(adherenceRate(week, [{ taken: true }, { taken: true }], asOf)).toBe(0.5);
  });
});
