import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadBuiltInModels, type BuiltInModel } from '../src/ai/model-manifest';
import { cadPatients, parseOptions, percentile, triagePatients, wdbcPatients } from './bench-ai';
import { CLEVELAND_COLUMNS, readCleveland, readWdbc, WDBC_COLUMNS } from './train-models/data';
import { generateVitals } from './train-models/news2';

/**
 * The benchmark's pure parts: its options, its percentiles, and that the FHIR resources it sets up
 * give the worker's feature builder exactly the data set's rows (otherwise the raw session.run
 * comparison would compare different inputs).
 */
const DATASETS = join(__dirname, '..', '..', 'shared', 'datasets');
const haveDatasets = existsSync(join(DATASETS, 'processed.cleveland.data')) && existsSync(join(DATASETS, 'wdbc.data'));
const model = (name: string): BuiltInModel => loadBuiltInModels().find((m) => m.manifest.name === name) as BuiltInModel;

describe('options', () => {
  it('has defaults that finish in minutes, and takes flags', () => {
    const o = parseOptions([]);
    expect(o).toMatchObject({ n: 500, concurrency: 16, workers: 1, patients: 200, rate: 0, tasks: ['cad', 'wdbc', 'triage', 'sentiment'], pgSample: false });
    const p = parseOptions(['--n', '40', '--concurrency=4', '--workers', '2', '--rate', '10', '--tasks', 'sentiment,triage-request', '--pg-sample']);
    expect(p).toMatchObject({ n: 40, concurrency: 4, workers: 2, rate: 10, patients: 40, tasks: ['sentiment', 'triage-request'], pgSample: true });
  });

  it('refuses bad flags with a message naming them', () => {
    expect(() => parseOptions(['--n', '0'])).toThrow(/--n must be an integer from 1/);
    expect(() => parseOptions(['--workers', 'two'])).toThrow(/--workers/);
    expect(() => parseOptions(['--tasks', 'cad,dance'])).toThrow(/unknown task "dance"/);
    expect(() => parseOptions(['--speed', '3'])).toThrow(/unknown option --speed/);
  });
});

describe('percentile', () => {
  it('is the nearest-rank percentile of sorted values', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 95)).toBe(95);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});

(haveDatasets ? describe : describe.skip)('set-up data (needs ../shared/datasets)', () => {
  it('gives the CAD model the Cleveland rows (missing values imputed, never zero)', () => {
    const rows = readCleveland(DATASETS);
    const patients = cadPatients(DATASETS, model('cad-cleveland'), rows.length);
    let missing = 0;
    patients.forEach((p, i) => {
      const f = rows[i].features;
      const col = (c: (typeof CLEVELAND_COLUMNS)[number]) => f[CLEVELAND_COLUMNS.indexOf(c)];
      expect(p.row).toMatchObject({
        age: col('age'),
        sex: col('sex'),
        chest_pain_type: col('cp'),
        resting_systolic_bp: col('trestbps'),
        serum_cholesterol: col('chol'),
        fasting_glucose_gt_120: col('fbs'),
        max_heart_rate: col('thalach'),
        exercise_angina: col('exang'),
        st_depression: col('oldpeak'),
      });
      expect(p.row.major_vessels).toEqual(col('ca') ?? Number.NaN);
      expect(p.row.thal).toEqual(col('thal') ?? Number.NaN);
      if (col('ca') === null || col('thal') === null) missing++;
    });
    expect(missing).toBeGreaterThan(0); // the file's '?' values reach the model as NaN, for the graph to impute
  });

  it('gives the WDBC model its 30 features', () => {
    const rows = readWdbc(DATASETS);
    const [p] = wdbcPatients(DATASETS, model('breast-wdbc'), 1);
    expect(WDBC_COLUMNS.map((c) => p.row[c])).toEqual(rows[0].features);
  });

  it('gives the triage model the generated vital signs, and keeps them out of the emergency encounter', () => {
    const [v] = generateVitals(1, 4242);
    const [p] = triagePatients(model('triage-news2'), 1, true);
    expect(p.row).toEqual({
      respiratory_rate: v.respiratoryRate,
      spo2: v.spo2,
      supplemental_oxygen: v.onOxygen,
      systolic_bp: v.systolicBp,
      pulse_rate: v.pulse,
      consciousness: v.consciousness,
      temperature: v.temperature,
    });
    expect(p.others.filter((r) => r.resourceType === 'Observation').every((o) => !('encounter' in o))).toBe(true);
    expect(p.others.some((r) => r.resourceType === 'Encounter')).toBe(true);
  });
});
