import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ModelManifest } from '../model-manifest';
import { SEMVER, checkManifest } from './manifest.checks';

const ROOT = path.resolve(__dirname, '../../..');
const raw = (name: string) => JSON.parse(readFileSync(path.join(ROOT, 'models', name, 'manifest.json'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const paths = (m: unknown) => checkManifest(m).problems.map((p) => p.path);

describe('checkManifest', () => {
  it.each(['cad-cleveland', 'breast-wdbc', 'triage-news2', 'sentiment-uci'])('accepts the built-in %s', (name) => {
    const { manifest, problems } = checkManifest(raw(name));
    expect(problems).toEqual([]);
    expect(manifest?.name).toBe(name);
  });

  it('refuses what is not an object', () => {
    expect(checkManifest([1])).toEqual({ problems: [{ path: 'manifest', message: 'the manifest must be a JSON object' }] });
    expect(paths(null)).toEqual(['manifest']);
  });

  it('checks semantic versions', () => {
    for (const ok of ['1.0.0', '0.1.2-rc.1', '2.10.3+build.5', '1.0.0-alpha-1']) expect([ok, SEMVER.test(ok)]).toEqual([ok, true]);
    for (const bad of ['1.0', 'v1.0.0', '01.0.0', '1.0.0-', '1.0.0+', '1.0.0.0', '']) expect([bad, SEMVER.test(bad)]).toEqual([bad, false]);
    expect(paths({ ...raw('cad-cleveland'), version: '1.0' })).toEqual(['version']);
  });

  it('names every problem with its path', () => {
    const m = raw('cad-cleveland');
    m.name = 'bad name!';
    m.task = 'astrology';
    delete m.title;
    m.condition = { system: 'http://snomed.info/sct' };
    m.inputs[0].tensor.shape = [];
    m.inputs[1].name = m.inputs[0].name;
    m.inputs[2].kind = 'fuzzy';
    m.inputs[3].training.sd = -1;
    m.minRealInputs = 99;
    m.outputs[1].range = [1, 0];
    m.threshold = { output: 'nope', value: 0.5 };
    m.metrics.accuracy = 84;
    m.last_trained = 'last week';
    m.federated = 'yes';
    expect(paths(m)).toEqual([
      'name',
      'task',
      'title',
      'condition',
      'inputs[0].tensor.shape',
      'inputs[1].name',
      'inputs[2].kind',
      'inputs[3].training',
      'minRealInputs',
      'outputs[1].range',
      'threshold.output',
      'metrics.accuracy',
      'lastTrained',
      'federated',
    ]);
  });

  it('refuses allowed values and plausible ranges the runtime could not apply', () => {
    const m = raw('cad-cleveland');
    m.inputs[1].allowedValues = [];
    m.inputs[2].allowedValues = [{ value: 'one' }];
    m.inputs[3].plausibleRange = { min: 400, max: 0 };
    m.inputs[4].plausibleRange = { min: 0 };
    expect(paths(m)).toEqual(['inputs[1].allowedValues', 'inputs[2].allowedValues', 'inputs[3].plausibleRange', 'inputs[4].plausibleRange']);
  });

  it('wants inputs, outputs and a threshold', () => {
    expect(paths({ name: 'x', version: '1.0.0', task: 'triage', title: 'X', inputs: [], outputs: [], minRealInputs: 0 })).toEqual(['inputs', 'outputs', 'threshold', 'metrics', 'training']);
  });

  it('wants held-out metrics with a number and a description of the training data', () => {
    const m = raw('cad-cleveland');
    delete m.metrics;
    delete m.training;
    expect(paths(m)).toEqual(['metrics', 'training']);
    expect(paths({ ...raw('cad-cleveland'), metrics: { evaluation: 'held-out 30%' } })).toEqual(['metrics']);
    expect(paths({ ...raw('cad-cleveland'), metrics: [0.8] })).toEqual(['metrics']);
    expect(paths({ ...raw('cad-cleveland'), training: 'UCI' })).toEqual(['training']);
    expect(paths({ ...raw('cad-cleveland'), metrics: { auc: 0.9 } })).toEqual([]);
  });

  it('reads last_trained as lastTrained and keeps federated', () => {
    const { manifest } = checkManifest({ ...raw('triage-news2'), last_trained: '2026-11-01', federated: true });
    expect(manifest).toMatchObject({ lastTrained: '2026-11-01', federated: true });
    expect((manifest as ModelManifest & { last_trained?: string }).last_trained).toBeUndefined();
  });

  it('refuses a model sha256 that is not hex and a name and version too long for a Device id', () => {
    expect(paths({ ...raw('triage-news2'), model: { sha256: 'xyz' } })).toEqual(['model.sha256']);
    expect(paths({ ...raw('triage-news2'), name: 'a'.repeat(48), version: '1.0.0-' + 'b'.repeat(20) })).toEqual(['version']);
  });
});
