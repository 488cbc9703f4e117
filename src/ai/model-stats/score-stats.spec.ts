import type { ManifestInput, ManifestOutput } from '../model-manifest';
import { agreement, inputDrift, latencyStats, normalCdf, normalQuantile, percentile, psi, scoreDistribution, summarize } from './score-stats';

const training = { mean: 130, sd: 20, median: 128, min: 80, max: 220 };
const continuous: ManifestInput = { name: 'systolic_bp', kind: 'continuous', code: { code: '8480-6' }, tensor: { elementType: 'float32', shape: ['N', 1] }, training };

/** n values spread exactly like N(mean, sd): the quantiles at (i + 0.5) / n. */
function normalSample(n: number, mean: number, sd: number): number[] {
  return Array.from({ length: n }, (_, i) => mean + sd * normalQuantile((i + 0.5) / n));
}

describe('summaries and percentiles', () => {
  it('gives mean, sample sd, min and max', () => {
    expect(summarize([2, 4, 4, 4, 5, 5, 7, 9])).toEqual({ n: 8, mean: 5, sd: Math.sqrt(32 / 7), min: 2, max: 9 });
    expect(summarize([])).toEqual({ n: 0, mean: null, sd: null, min: null, max: null });
  });

  it('interpolates percentiles between closest ranks, whatever the order', () => {
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    expect(percentile(Array.from({ length: 20 }, (_, i) => i + 1), 95)).toBeCloseTo(19.05, 10);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });

  it('reports latency p50 and p95', () => {
    const ms = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(latencyStats(ms)).toEqual({ n: 100, p50: 50.5, p95: 95.05, mean: 50.5, max: 100 });
  });
});

describe('the normal distribution', () => {
  it('has the textbook CDF values and an inverse that round-trips', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-1)).toBeCloseTo(0.158655, 6);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326348, 5);
    for (const p of [0.001, 0.1, 0.5, 0.9, 0.999]) expect(normalCdf(normalQuantile(p))).toBeCloseTo(p, 6);
  });
});

describe('population stability index', () => {
  it('is 0 for identical shares and grows with the shift', () => {
    expect(psi([0.25, 0.25, 0.5], [0.25, 0.25, 0.5])).toBe(0);
    expect(psi([0.5, 0.5], [0.7, 0.3])).toBeCloseTo(0.2 * Math.log(1.4) + 0.2 * Math.log(1 / 0.6), 10);
    expect(psi([0.5, 0.5], [0.9, 0.1])).toBeGreaterThan(psi([0.5, 0.5], [0.7, 0.3]));
  });

  it('stays finite when a bin is empty', () => {
    expect(Number.isFinite(psi([0.5, 0.5], [1, 0]))).toBe(true);
  });
});

describe('input drift against the model card', () => {
  it('finds no drift in values distributed as in training', () => {
    const d = inputDrift(continuous, normalSample(200, 130, 20), 0);
    expect(d.level).toBe('none');
    expect(d.bins).toBe('normal-deciles');
    expect(Math.abs(d.smd as number)).toBeLessThan(0.05);
    expect(d.psi as number).toBeLessThan(0.01);
    expect(d.message).toMatch(/systolic_bp: live values close to training .*no drift detected/);
  });

  it('flags a one-sd shift as significant, in plain words, with PSI and SMD', () => {
    const d = inputDrift(continuous, normalSample(200, 150, 20), 0);
    expect(d.level).toBe('significant');
    expect(d.smd as number).toBeCloseTo(1, 1);
    expect(d.psi as number).toBeGreaterThan(0.25);
    expect(d.message).toMatch(/higher than in training \(mean 150 vs 130, SMD \+1\.00, PSI .*\): significant drift/);
  });

  it('calls a small shift moderate, and a shift down lower', () => {
    const d = inputDrift(continuous, normalSample(400, 124, 20), 0);
    expect(d.level).toBe('moderate');
    expect(d.message).toMatch(/lower than in training/);
  });

  it('counts values outside the training range', () => {
    const values = [...normalSample(90, 130, 10), ...new Array<number>(10).fill(300)];
    expect(inputDrift(continuous, values, 0).outsideTrainingRange).toBeCloseTo(0.1, 4);
  });

  it('does not judge fewer than 30 values, and says how many jobs imputed the input', () => {
    const d = inputDrift(continuous, [120, 140], 8);
    expect(d).toMatchObject({ level: 'insufficient-data', observed: 2, imputed: 8, imputedShare: 0.8, psi: null, smd: null });
    expect(d.message).toMatch(/only 2 observed values .*80% of jobs lacked it/);
  });

  it('compares a binary input with a Bernoulli of the training mean', () => {
    const binary: ManifestInput = { ...continuous, name: 'exercise_angina', kind: 'binary', training: { mean: 0.3, sd: 0.46, median: 0, min: 0, max: 1 } };
    const same = [...new Array<number>(30).fill(1), ...new Array<number>(70).fill(0)];
    expect(inputDrift(binary, same, 0)).toMatchObject({ level: 'none', bins: 'bernoulli', psi: 0 });
    expect(inputDrift(binary, new Array<number>(100).fill(1), 0).level).toBe('significant');
  });

  it('bins categorical inputs by integer value', () => {
    const cat: ManifestInput = { ...continuous, name: 'chest_pain_type', kind: 'categorical', training: { mean: 3.2, sd: 0.95, median: 3, min: 1, max: 4 } };
    const d = inputDrift(cat, new Array<number>(50).fill(1), 0);
    expect(d.bins).toBe('normal-integers');
    expect(d.level).toBe('significant');
  });

  it('does not assess text inputs or inputs without training statistics', () => {
    const text: ManifestInput = { name: 'text', kind: 'text', code: { code: 'x' }, tensor: { elementType: 'string', shape: ['N', 1] } };
    expect(inputDrift(text, [], 0).level).toBe('not-assessed');
  });
});

describe('score distribution', () => {
  it('histograms a probability over [0, 1] in ten bins, the ends inclusive', () => {
    const out: ManifestOutput = { name: 'probability', elementType: 'float32', shape: ['N', 1], range: [0, 1] };
    const d = scoreDistribution(out, 'probability', [0, 0.05, 0.5, 0.95, 1]);
    expect(d.bins).toHaveLength(10);
    expect(d.bins.map((b) => b.count)).toEqual([2, 0, 0, 0, 0, 1, 0, 0, 0, 2]);
    expect(d.bins[0]).toMatchObject({ from: 0, to: 0.1 });
    expect(d).toMatchObject({ n: 5, mean: 0.5, min: 0, max: 1, range: [0, 1] });
  });

  it('gives one bin per class for a labelled integer output', () => {
    const out: ManifestOutput = { name: 'priority', elementType: 'int64', shape: ['N', 1], range: [1, 5], labels: ['p1', 'p2', 'p3', 'p4', 'p5'] };
    const d = scoreDistribution(out, 'priority', [1, 1, 2, 5]);
    expect(d.bins.map((b) => [b.label, b.count])).toEqual([['p1', 2], ['p2', 1], ['p3', 0], ['p4', 0], ['p5', 1]]);
    expect(d.mean).toBe(2.25);
  });

  it('uses the observed range when the output declares none, and is empty without scores', () => {
    expect(scoreDistribution(undefined, 'x', [2, 4]).range).toEqual([2, 4]);
    expect(scoreDistribution(undefined, 'x', [])).toMatchObject({ n: 0, bins: [], range: null, mean: null });
  });
});

describe('shadow agreement', () => {
  it('counts same-class jobs and the score differences on jobs both scored', () => {
    const a = agreement([
      { active: { score: 0.9, label: 'positive' }, shadow: { score: 0.8, label: 'positive' } },
      { active: { score: 0.2, label: 'negative' }, shadow: { score: 0.6, label: 'positive' } },
      { active: { score: 0.1, label: 'negative' }, shadow: { score: 0.1, label: 'negative' } },
      { active: { score: null, label: null }, shadow: { score: 0.7, label: 'positive' } },
    ]);
    expect(a).toMatchObject({ pairs: 3, sameClass: 2, share: 0.6667, maxAbsDifference: 0.4, onlyOneScored: 1 });
    expect(a.meanAbsDifference).toBeCloseTo(0.5 / 3, 6);
    expect(a.message).toMatch(/2 of 3 jobs \(66\.7%\)/);
  });

  it('says so when nothing was scored by both', () => {
    expect(agreement([])).toMatchObject({ pairs: 0, share: null, meanAbsDifference: null });
  });
});
