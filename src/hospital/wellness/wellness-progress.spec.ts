import type { Goal } from '@medplum/fhirtypes';
import { goalScore, planProgress, targetRange, targetScore } from './wellness-progress';

const ach = (code: string) => ({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/goal-achievement', code }] });
const goal = (g: Partial<Goal>): Goal => ({ resourceType: 'Goal', lifecycleStatus: 'active', description: { text: 'g' }, subject: { reference: 'Patient/p' }, ...g }) as Goal;
const m = (value: number, at: string) => ({ value, at });

describe('targetRange', () => {
  it('reads comparators and ranges', () => {
    expect(targetRange({ detailQuantity: { value: 20, comparator: '<=' } })).toEqual([-Infinity, 20]);
    expect(targetRange({ detailQuantity: { value: 8000, comparator: '>=' } })).toEqual([8000, Infinity]);
    expect(targetRange({ detailQuantity: { value: 7 } })).toEqual([7, 7]);
    expect(targetRange({ detailRange: { low: { value: 60 }, high: { value: 80 } } })).toEqual([60, 80]);
    expect(targetRange({ detailString: 'less' })).toBeUndefined();
  });
});

describe('targetScore', () => {
  const upTo20: [number, number] = [-Infinity, 20];
  it('covers the way from baseline to target', () => {
    expect(targetScore(upTo20, [m(40, '2026-01-01'), m(25, '2026-02-01')])).toBe(0.75); // 1 - 5/20
    expect(targetScore(upTo20, [m(25, '2026-02-01'), m(40, '2026-01-01')])).toBe(0.75); // order does not matter
    expect(targetScore(upTo20, [m(40, '2026-01-01'), m(18, '2026-02-01')])).toBe(1);
    expect(targetScore(upTo20, [m(40, '2026-01-01'), m(45, '2026-02-01')])).toBe(0); // worse
    expect(targetScore(upTo20, [m(30, '2026-01-01')])).toBe(0); // only a baseline
    expect(targetScore(upTo20, [])).toBeUndefined();
  });
  it('takes the baseline from the goal start', () => {
    expect(targetScore(upTo20, [m(60, '2025-06-01'), m(40, '2026-01-01'), m(30, '2026-02-01')], '2026-01-01')).toBe(0.5);
  });
});

describe('goalScore and planProgress', () => {
  const measure = { coding: [{ system: 'http://loinc.org', code: '106860-0' }] };
  it('scores by status, then measure, then achievement', () => {
    expect(goalScore(goal({ lifecycleStatus: 'completed' }), () => [])).toBe(1);
    expect(goalScore(goal({ achievementStatus: ach('sustaining') }), () => [])).toBe(1);
    expect(goalScore(goal({ lifecycleStatus: 'cancelled', achievementStatus: ach('achieved') }), () => [])).toBeUndefined();
    expect(goalScore(goal({ achievementStatus: ach('improving') }), () => [])).toBe(0.5);
    expect(goalScore(goal({ achievementStatus: ach('worsening') }), () => [])).toBe(0);
    const measured = goal({ achievementStatus: ach('improving'), target: [{ measure, detailQuantity: { value: 20, comparator: '<' } }] });
    expect(goalScore(measured, () => [m(30, '2026-01-01'), m(26, '2026-01-08')])).toBeCloseTo(0.4);
    expect(goalScore(measured, () => [])).toBe(0.5); // no measurement: falls back to the achievement status
  });
  it('averages counted goals and rounds to 2 decimals', () => {
    expect(planProgress([1, 0.5, undefined, 0])).toBe(0.5);
    expect(planProgress([1, 0, 0])).toBe(0.33);
    expect(planProgress([undefined])).toBeUndefined();
    expect(planProgress([])).toBeUndefined();
  });
});
