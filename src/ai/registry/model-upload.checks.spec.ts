import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ModelManifest } from '../model-manifest';
import { signatureProblems, type GraphValue } from './model-upload.checks';

const ROOT = path.resolve(__dirname, '../../..');
const triage = JSON.parse(readFileSync(path.join(ROOT, 'models', 'triage-news2', 'manifest.json'), 'utf8')) as ModelManifest;

/** The graph a manifest describes, as onnxruntime reports it. */
const graphOf = (m: ModelManifest) => ({
  inputs: m.inputs.map((i): GraphValue => ({ name: i.name, isTensor: true, type: i.tensor.elementType, shape: i.tensor.shape })),
  outputs: m.outputs.map((o): GraphValue => ({ name: o.name, isTensor: true, type: o.elementType, shape: o.shape })),
});

describe('signatureProblems', () => {
  it('accepts a graph that matches its manifest, whatever its batch dimension is called', () => {
    const g = graphOf(triage);
    g.inputs[0] = { ...g.inputs[0], shape: ['batch', 1] };
    expect(signatureProblems(triage, g)).toEqual([]);
  });

  it('names a missing input, a wrong type, a wrong shape, and what the manifest leaves out', () => {
    const g = graphOf(triage);
    g.inputs[0] = { ...g.inputs[0], name: 'resp_rate' };
    g.inputs[1] = { ...g.inputs[1], type: 'float64' };
    g.outputs[0] = { ...g.outputs[0], shape: ['N', 4] };
    g.outputs.push({ name: 'debug', isTensor: true, type: 'float32', shape: ['N', 1] });
    expect(signatureProblems(triage, g).map((p) => `${p.path}: ${p.message}`)).toEqual([
      `inputs[0].name: the ONNX graph has no input respiratory_rate (its inputs: resp_rate, ${triage.inputs.slice(1).map((i) => i.name).join(', ')})`,
      'inputs[1].elementType: the ONNX graph\'s input spo2 is float64, the manifest says float32',
      'inputs: the ONNX graph\'s input resp_rate is not in the manifest',
      'outputs[0].shape: the ONNX graph\'s output probabilities has shape [N, 4], the manifest says [N, 5]',
      'outputs: the ONNX graph\'s output debug is not in the manifest',
    ]);
  });

  it('refuses a fixed batch size where the manifest has a batch dimension, and non-tensor values', () => {
    const g = graphOf(triage);
    g.inputs[2] = { ...g.inputs[2], shape: [1, 1] };
    g.outputs[1] = { name: 'priority', isTensor: false };
    expect(signatureProblems(triage, g).map((p) => p.path)).toEqual(['inputs[2].shape', 'outputs[1]']);
  });
});
