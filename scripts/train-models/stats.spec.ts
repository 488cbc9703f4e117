import { lbfgs } from './optimize';
import { denseToSparse, predictLogistic, trainLogistic } from './models';
import { Prng } from './prng';
import { accuracy, auc, binaryMetrics, confusionMatrix, fitScaler, mean, median, mode, sd, standardise, stratifiedFolds, stratifiedSplit } from './stats';
import { encodeRow, fitPreprocessing, type FeatureDef } from './tabular';
import { buildVocabulary, lowerC, ngrams, presentColumns, tokenize } from './text';

describe('descriptive statistics', () => {
  it('mean, sample sd, median, mode', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(sd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(2.13809, 5);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(mode([3, 7, 7, 3, 1])).toBe(3); // tie: the smallest
    expect(() => median([])).toThrow();
  });
});

describe('standardisation', () => {
  it('maps training columns to mean 0, sd 1; a constant column to 0', () => {
    const rows = [
      [1, 10, 5],
      [2, 20, 5],
      [3, 30, 5],
    ];
    const s = fitScaler(rows);
    expect(s.mean).toEqual([2, 20, 5]);
    expect(s.sd).toEqual([1, 10, 1]);
    expect(standardise(rows, s)).toEqual([
      [-1, -1, 0],
      [0, 0, 0],
      [1, 1, 0],
    ]);
  });

  it('tabular encoding: imputes, standardises numeric inputs, one-hot codes categorical ones', () => {
    const features: FeatureDef[] = [
      { name: 'a', kind: 'continuous' },
      { name: 'c', kind: 'categorical', categories: [1, 2, 3] },
      { name: 'b', kind: 'binary' },
    ];
    const p = fitPreprocessing(features, [
      [1, 1, 0],
      [3, 2, 1],
      [null, 2, 1],
    ]);
    expect(p.imputation.map((i) => i.value)).toEqual([2, 2, 1]); // median, mode, median
    expect(p.stats[0]).toMatchObject({ mean: 2, median: 2, missing: 1 });
    expect(p.numericMean).toEqual([2, 2 / 3]);
    const row = encodeRow(p, [null, 3, 1]);
    expect(row.slice(0, 2)).toEqual([0, (1 - 2 / 3) / p.numericSd[1]]);
    expect(row.slice(2)).toEqual([0, 0, 1]);
    expect(encodeRow(p, [2, 9, 0]).slice(2)).toEqual([0, 0, 0]); // unknown category: no column set
  });
});

describe('splits', () => {
  const labels = [...new Array(70).fill(0), ...new Array(30).fill(1)];

  it('stratified split keeps class proportions, is disjoint, complete and seeded', () => {
    const s = stratifiedSplit(labels, 0.3, 5);
    expect(s.test).toHaveLength(30);
    expect(s.test.filter((i) => labels[i] === 1)).toHaveLength(9);
    expect(new Set([...s.train, ...s.test]).size).toBe(100);
    expect(stratifiedSplit(labels, 0.3, 5)).toEqual(s);
    expect(stratifiedSplit(labels, 0.3, 6)).not.toEqual(s);
  });

  it('stratified folds partition the rows', () => {
    const folds = stratifiedFolds(labels, 5, 1);
    expect(folds.flat().sort((a, b) => a - b)).toEqual(labels.map((_, i) => i));
    for (const f of folds) expect(f.filter((i) => labels[i] === 1)).toHaveLength(6);
  });

  it('the PRNG is deterministic and uniform enough', () => {
    const a = new Prng(9);
    const b = new Prng(9);
    const xs = Array.from({ length: 10000 }, () => a.next());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b.next()));
    expect(mean(xs)).toBeCloseTo(0.5, 1);
    const n = new Prng(3);
    const zs = Array.from({ length: 20000 }, () => n.normal(10, 2));
    expect(mean(zs)).toBeCloseTo(10, 1);
    expect(sd(zs)).toBeCloseTo(2, 1);
  });
});

describe('metrics', () => {
  it('AUC: perfect, inverted, ties', () => {
    expect(auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])).toBe(1);
    expect(auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])).toBe(0);
    expect(auc([0, 1], [0.5, 0.5])).toBe(0.5);
    expect(auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
  });

  it('accuracy, confusion matrix and binary metrics', () => {
    expect(accuracy([0, 1, 1], [0, 1, 0])).toBeCloseTo(2 / 3);
    expect(confusionMatrix([0, 1, 2, 2], [0, 2, 2, 1], 3)).toEqual([
      [1, 0, 0],
      [0, 0, 1],
      [0, 1, 1],
    ]);
    const m = binaryMetrics([0, 0, 1, 1], [0.2, 0.6, 0.7, 0.4]);
    expect(m.confusion).toEqual([
      [1, 1],
      [1, 1],
    ]);
    expect(m).toMatchObject({ accuracy: 0.5, sensitivity: 0.5, specificity: 0.5 });
  });
});

describe('optimisation', () => {
  it('L-BFGS finds the minimum of a quadratic', () => {
    const r = lbfgs(
      (w, g) => {
        g[0] = 2 * (w[0] - 3);
        g[1] = 20 * (w[1] + 1);
        return (w[0] - 3) ** 2 + 10 * (w[1] + 1) ** 2;
      },
      new Float64Array(2),
    );
    expect(r.w[0]).toBeCloseTo(3, 5);
    expect(r.w[1]).toBeCloseTo(-1, 5);
  });

  it('logistic regression learns a linear boundary, deterministically', () => {
    const p = new Prng(1);
    const x = Array.from({ length: 400 }, () => [p.normal(), p.normal()]);
    const y = x.map(([a, b]) => (a + 2 * b + 0.3 * p.normal() > 0 ? 1 : 0));
    const rows = x.map(denseToSparse);
    const m = trainLogistic(rows, y, 2, 1e-3);
    expect(m.weights[1] / m.weights[0]).toBeCloseTo(2, 0);
    const acc = accuracy(y, predictLogistic(m, rows).map((q) => (q >= 0.5 ? 1 : 0)));
    expect(acc).toBeGreaterThan(0.9);
    expect(trainLogistic(rows, y, 2, 1e-3)).toEqual(m);
  });
});

describe('text pipeline (mirror of the sentiment graph)', () => {
  it('lower-cases ASCII only and keeps apostrophes inside words', () => {
    expect(lowerC('ÉCOLE Good')).toBe('École good');
    expect(tokenize("Don't buy it!!! 'Great' value, 10/10.")).toEqual(["don't", 'buy', 'it', 'great', 'value', '10', '10']);
    expect(tokenize('')).toEqual([]);
    expect(tokenize('  ...  ')).toEqual([]);
    expect(tokenize('café naïve')).toEqual(['café', 'naïve']);
  });

  it('builds a sorted vocabulary of unigrams and bigrams by document frequency', () => {
    const docs = [tokenize('not good at all'), tokenize('not good'), tokenize('very good')];
    expect(ngrams(['a', 'b', 'c'], 2)).toEqual(['a', 'b', 'c', 'a b', 'b c']);
    const v = buildVocabulary(docs, 2, 2);
    expect(v.unigrams).toEqual(['good', 'not']);
    expect(v.bigrams).toEqual(['not good']);
    expect(presentColumns(tokenize('Not good, not good!'), v)).toEqual([0, 1, 2]);
    expect(presentColumns(tokenize('very'), v)).toEqual([]);
  });
});
