import type { Observation } from '@medplum/fhirtypes';
import { BASELINE, anomalyRow, buildAnomalyInput, carriesVitalSign, readingVitals, robustDeviation } from './anomaly.features';

const LOINC = 'http://loinc.org';
let seq = 0;
const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 12, minute)).toISOString();
function reading(code: string, value: number, unit: string, minute: number, over: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    id: `r${++seq}`,
    status: 'final',
    code: { coding: [{ system: LOINC, code }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: at(minute),
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
    ...over,
  };
}
const hr = (value: number, minute: number, over: Partial<Observation> = {}) => reading('8867-4', value, '/min', minute, over);

describe('robustDeviation', () => {
  it('is |value - median| over the larger of 1.4826 MAD and the floor, and undefined below the minimum baseline', () => {
    expect(robustDeviation(100, [70, 72, 74], 5)).toBeCloseTo((100 - 72) / Math.max(1.4826 * 2, 5));
    expect(robustDeviation(100, [60, 70, 80, 90, 100], 5)).toBeCloseTo(20 / (1.4826 * 10));
    expect(robustDeviation(100, [70, 72], 5)).toBeUndefined();
    expect(BASELINE.minReadings).toBe(3);
  });
});

describe('readingVitals', () => {
  it('reads a single vital, a blood-pressure panel component and an ICU panel, converting units', () => {
    expect(readingVitals(hr(80, 0)).values).toEqual({ heart_rate: 80 });
    expect(readingVitals(reading('8310-5', 102.2, '[degF]', 0)).values).toEqual({ temperature: 39 });
    const panel: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '85353-1' }] },
      component: [
        { code: { coding: [{ system: LOINC, code: '8867-4' }] }, valueQuantity: { value: 88, code: '/min' } },
        { code: { coding: [{ system: LOINC, code: '2708-6' }] }, valueQuantity: { value: 94, code: '%' } },
        { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 118, code: 'mm[Hg]' } },
        { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: { value: 70, code: 'mm[Hg]' } },
      ],
    };
    expect(readingVitals(panel).values).toEqual({ heart_rate: 88, spo2: 94, systolic_bp: 118 });
    expect(carriesVitalSign(panel)).toBe(true);
    expect(carriesVitalSign(reading('2093-3', 200, 'mg/dL', 0))).toBe(false);
  });

  it('refuses unknown units and impossible values with a reason instead of scoring them', () => {
    const bad = readingVitals(reading('8310-5', 37, 'furlong', 0));
    expect(bad.values).toEqual({});
    expect(bad.problems[0]).toMatch(/temperature: unit "furlong"/);
    const impossible = readingVitals(reading('59408-5', 140, '%', 0));
    expect(impossible.values).toEqual({});
    expect(impossible.problems[0]).toMatch(/spo2: 140 % is not a possible value/);
  });
});

describe('anomalyRow', () => {
  it('feeds NaN for vitals the reading lacks and the largest deviation among those it carries', () => {
    const { row, deviation } = anomalyRow({ heart_rate: 120, spo2: 96 }, { heart_rate: [70, 71, 72, 70], spo2: [96, 97, 96] });
    expect(row.respiratory_rate).toBeNaN();
    expect(row.heart_rate).toBe(120);
    expect(deviation?.vital).toBe('heart_rate');
    expect(row.baseline_deviation).toBeCloseTo((120 - 70.5) / 5, 2);
    expect(anomalyRow({ heart_rate: 120 }, {}).row.baseline_deviation).toBeNaN();
  });
});

describe('buildAnomalyInput', () => {
  it('takes the baseline from earlier readings of the same code in the window, not later ones, other codes, its own or voided ones', () => {
    const history = [
      hr(70, 1),
      hr(72, 2),
      hr(71, 3),
      hr(250, 4, { status: 'entered-in-error' }),
      hr(40, 5, { meta: { source: 'urn:fhir-ai-server:ai-worker' } }),
      reading('9279-1', 30, '/min', 6),
      hr(200, 30), // after the reading
      hr(20, -24 * 60 - 5), // before the window
    ];
    const current = hr(110, 10);
    const input = buildAnomalyInput(current, [...history, current], (o) => o.meta?.source === 'urn:fhir-ai-server:ai-worker');
    expect(input.present).toEqual(['heart_rate']);
    expect(input.deviation?.value).toBeCloseTo((110 - 71) / 5, 3);
    expect(input.baseline.map((r) => r.reference).sort()).toEqual([history[0], history[1], history[2]].map((o) => `Observation/${o.id}`).sort());
    expect(input.missing).toEqual(['respiratory_rate', 'spo2', 'systolic_bp', 'temperature']);
  });

  it('has no deviation and names no baseline with fewer than 3 earlier readings', () => {
    const current = hr(110, 10);
    const input = buildAnomalyInput(current, [hr(70, 1), hr(72, 2), current]);
    expect(input.deviation).toBeUndefined();
    expect(input.baseline).toEqual([]);
    expect(input.missing).toContain('baseline_deviation');
  });
});
