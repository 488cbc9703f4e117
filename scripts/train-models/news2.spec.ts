import {
  generateVitals,
  news2,
  priorityFromNews2,
  scoreConsciousness,
  scoreOxygen,
  scorePulse,
  scoreRespiration,
  scoreSpo2Scale1,
  scoreSystolic,
  scoreTemperature,
  triagePriority,
  type Vitals,
} from './news2';

const normal: Vitals = { respiratoryRate: 16, spo2: 98, onOxygen: 0, systolicBp: 125, pulse: 72, consciousness: 0, temperature: 37 };

describe('NEWS2 parameter scores (RCP 2017, Chart 1)', () => {
  it.each([
    [8, 3],
    [9, 1],
    [11, 1],
    [12, 0],
    [20, 0],
    [21, 2],
    [24, 2],
    [25, 3],
    [20.5, 2],
  ])('respiration rate %p scores %p', (v, s) => expect(scoreRespiration(v)).toBe(s));

  it.each([
    [91, 3],
    [92, 2],
    [93, 2],
    [94, 1],
    [95, 1],
    [96, 0],
    [100, 0],
  ])('SpO2 (scale 1) %p scores %p', (v, s) => expect(scoreSpo2Scale1(v)).toBe(s));

  it('air or oxygen', () => {
    expect(scoreOxygen(0)).toBe(0);
    expect(scoreOxygen(1)).toBe(2);
  });

  it.each([
    [90, 3],
    [91, 2],
    [100, 2],
    [101, 1],
    [110, 1],
    [111, 0],
    [219, 0],
    [220, 3],
  ])('systolic BP %p scores %p', (v, s) => expect(scoreSystolic(v)).toBe(s));

  it.each([
    [40, 3],
    [41, 1],
    [50, 1],
    [51, 0],
    [90, 0],
    [91, 1],
    [110, 1],
    [111, 2],
    [130, 2],
    [131, 3],
  ])('pulse %p scores %p', (v, s) => expect(scorePulse(v)).toBe(s));

  it('consciousness: alert 0, CVPU 3', () => {
    expect(scoreConsciousness(0)).toBe(0);
    expect(scoreConsciousness(1)).toBe(3);
  });

  it.each([
    [35.0, 3],
    [35.1, 1],
    [36.0, 1],
    [36.1, 0],
    [38.0, 0],
    [38.1, 1],
    [39.0, 1],
    [39.1, 2],
  ])('temperature %p scores %p', (v, s) => expect(scoreTemperature(v)).toBe(s));
});

describe('aggregate score and priority', () => {
  it('normal vitals score 0, priority 5', () => {
    const r = news2(normal);
    expect(r.total).toBe(0);
    expect(r.redScore).toBe(false);
    expect(triagePriority(normal)).toBe(5);
  });

  it('adds the parameter scores', () => {
    // RR 22 (2) + SpO2 94 (1) + oxygen (2) + SBP 105 (1) + pulse 95 (1) + alert (0) + 38.5 (1) = 8
    const r = news2({ respiratoryRate: 22, spo2: 94, onOxygen: 1, systolicBp: 105, pulse: 95, consciousness: 0, temperature: 38.5 });
    expect(r.parameters).toEqual({ respiratoryRate: 2, spo2: 1, onOxygen: 2, systolicBp: 1, pulse: 1, consciousness: 0, temperature: 1 });
    expect(r.total).toBe(8);
  });

  it('a single red score makes priority 2 even with a low aggregate', () => {
    const v = { ...normal, consciousness: 1 as const };
    expect(news2(v)).toMatchObject({ total: 3, redScore: true });
    expect(triagePriority(v)).toBe(2);
  });

  it.each([
    [0, false, 5],
    [1, false, 4],
    [2, false, 4],
    [3, false, 3],
    [4, false, 3],
    [3, true, 2],
    [5, false, 2],
    [6, false, 2],
    [7, false, 1],
    [7, true, 1],
    [12, true, 1],
  ])('aggregate %p (red score %p) -> priority %p', (total, redScore, p) => expect(priorityFromNews2({ total, redScore })).toBe(p));
});

describe('synthetic vitals', () => {
  it('are deterministic for a seed', () => {
    expect(generateVitals(200, 42)).toEqual(generateVitals(200, 42));
    expect(generateVitals(50, 42)).not.toEqual(generateVitals(50, 43));
  });

  it('are plausible, labelled by NEWS2, and cover every priority', () => {
    const data = generateVitals(3000, 7);
    const counts = [0, 0, 0, 0, 0];
    for (const d of data) {
      expect(d.respiratoryRate).toBeGreaterThanOrEqual(4);
      expect(d.respiratoryRate).toBeLessThanOrEqual(60);
      expect(d.spo2).toBeGreaterThanOrEqual(60);
      expect(d.spo2).toBeLessThanOrEqual(100);
      expect(d.systolicBp).toBeGreaterThanOrEqual(50);
      expect(d.pulse).toBeGreaterThanOrEqual(25);
      expect(d.temperature).toBeGreaterThanOrEqual(32);
      expect(d.temperature).toBeLessThanOrEqual(42.5);
      expect([0, 1]).toContain(d.onOxygen);
      expect([0, 1]).toContain(d.consciousness);
      expect(d.news2).toBe(news2(d).total);
      expect(d.priority).toBe(triagePriority(d));
      counts[d.priority - 1]++;
    }
    // every priority holds at least 8% of the set
    for (const c of counts) expect(c / data.length).toBeGreaterThan(0.08);
  });
});
