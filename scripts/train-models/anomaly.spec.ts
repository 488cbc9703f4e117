/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { anomalyRow, type VitalName } from '../../src/ai/features/anomaly.features';
import { anomalyLabel, dangerous, generateReadings } from './anomaly';
import type { ModelManifest } from './manifest';

/** The labelling rules, and the committed vitals-anomaly model checked with onnxruntime-node on readings it was not trained on. */

describe('the labelling rules', () => {
  it('flag the most extreme NEWS2 band of each parameter, and temperature from 39.1', () => {
    expect([dangerous('heart_rate', 40), dangerous('heart_rate', 41), dangerous('heart_rate', 130), dangerous('heart_rate', 131)]).toEqual([true, false, false, true]);
    expect([dangerous('respiratory_rate', 8), dangerous('respiratory_rate', 24), dangerous('respiratory_rate', 25)]).toEqual([true, false, true]);
    expect([dangerous('spo2', 91), dangerous('spo2', 92)]).toEqual([true, false]);
    expect([dangerous('systolic_bp', 90), dangerous('systolic_bp', 219), dangerous('systolic_bp', 220)]).toEqual([true, false, true]);
    expect([dangerous('temperature', 35), dangerous('temperature', 35.1), dangerous('temperature', 39), dangerous('temperature', 39.1)]).toEqual([true, false, false, true]);
  });

  it('flag a deviation of 4 robust SDs or more, with or without a dangerous value', () => {
    expect(anomalyLabel({ heart_rate: 95 }, 4)).toEqual({ anomalous: true, dangerous: false, sudden: true });
    expect(anomalyLabel({ heart_rate: 95 }, 3.9)).toEqual({ anomalous: false, dangerous: false, sudden: false });
    expect(anomalyLabel({ heart_rate: 150 }, undefined)).toEqual({ anomalous: true, dangerous: true, sudden: false });
  });

  it('generate the same readings from the same seed', () => {
    expect(generateReadings(50, 7)).toEqual(generateReadings(50, 7));
    expect(generateReadings(50, 7)).not.toEqual(generateReadings(50, 8));
  });
});

const DIR = join(__dirname, '..', '..', 'models', 'vitals-anomaly');

describe('vitals-anomaly (committed model)', () => {
  if (!existsSync(join(DIR, 'model.onnx'))) {
    it.skip('skipped: models/vitals-anomaly/model.onnx is absent; run `npm run models:train`', () => undefined);
    return;
  }
  let session: ort.InferenceSession;
  const bytes = readFileSync(join(DIR, 'model.onnx'));
  const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as ModelManifest;
  beforeAll(async () => {
    session = await ort.InferenceSession.create(bytes);
  });
  afterAll(async () => {
    await session?.release();
  });

  async function scores(rows: Array<Record<string, number>>): Promise<number[]> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const i of manifest.inputs) feeds[i.name] = new ort.Tensor('float32', Float32Array.from(rows.map((r) => r[i.name])), [rows.length, 1]);
    const out = await session.run(feeds);
    return Array.from(out.score.data as Float32Array);
  }

  it('matches its manifest: sha256, size, input and output names, task contract output', () => {
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(manifest.model.sha256);
    expect(bytes.length).toBe(manifest.model.bytes);
    expect(session.inputNames).toEqual(manifest.inputs.map((i) => i.name));
    expect(session.outputNames).toEqual(['score']);
    expect(manifest.task).toBe('vital-sign-anomaly');
    expect(readFileSync(join(DIR, 'model-card.md'), 'utf8')).toContain(manifest.model.sha256);
  });

  it('agrees with the rules on 2000 fresh readings (another seed) as well as its held-out figures say, every score in [0, 1]', async () => {
    const data = generateReadings(2000, 99);
    const rows = data.map((d) => anomalyRow(d.values, d.baselines));
    const s = await scores(rows.map((r) => r.row));
    expect(s.every((x) => x >= 0 && x <= 1)).toBe(true);
    const labels = data.map((d, i) => anomalyLabel(d.values, rows[i].deviation?.value).anomalous);
    const agree = labels.filter((l, i) => l === s[i] >= 0.5).length / labels.length;
    expect(agree).toBeGreaterThan(0.97);
    expect(manifest.metrics.accuracy as number).toBeGreaterThan(0.97);
    expect(manifest.metrics.auc as number).toBeGreaterThan(0.99);
  });

  it('scores textbook readings as the rules do, missing inputs fed as NaN', async () => {
    const steady = [70, 72, 71, 69, 70, 71];
    const cases: Array<[string, Partial<Record<VitalName, number>>, Partial<Record<VitalName, number[]>>, boolean]> = [
      ['a steady heart rate', { heart_rate: 72 }, { heart_rate: steady }, false],
      ['a normal heart rate, no baseline', { heart_rate: 80 }, {}, false],
      ['tachycardia 150', { heart_rate: 150 }, {}, true],
      ['a sudden jump 70 -> 100 (6 SDs, not dangerous itself)', { heart_rate: 100 }, { heart_rate: steady }, true],
      ['SpO2 88', { spo2: 88 }, {}, true],
      ['temperature 37.2', { temperature: 37.2 }, {}, false],
      ['systolic 80', { systolic_bp: 80 }, {}, true],
      ['a normal ICU panel', { heart_rate: 78, respiratory_rate: 16, spo2: 97, systolic_bp: 122, temperature: 37 }, {}, false],
    ];
    const s = await scores(cases.map(([, v, b]) => anomalyRow(v, b).row));
    cases.forEach(([what, , , flagged], i) => expect({ what, flagged: s[i] >= 0.5 }).toEqual({ what, flagged }));
  });
});
