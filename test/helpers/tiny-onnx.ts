import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DataType, GraphBuilder, attr, encodeModel, floatTensor, valueInfo, type Dim } from '../../scripts/train-models/onnx';
import type { ModelManifest } from '../../src/ai/model-manifest';

/** The built-in CAD model's manifest (its inputs and their FHIR bindings), for test models of the same contract. */
export function cadManifest(): ModelManifest {
  return JSON.parse(readFileSync(path.resolve(__dirname, '../../models/cad-cleveland/manifest.json'), 'utf8')) as ModelManifest;
}

export interface TinyOptions {
  /** Weights per input (default 0.01 each) and intercept. */
  weights?: number[];
  bias?: number;
  /** Rename a graph input (the manifest keeps its name). */
  renameInput?: [string, string];
  /** Declare this input double (cast to float inside). */
  doubleInput?: string;
  /** Give this input a fixed batch size of 1 instead of N. */
  fixedBatchInput?: string;
  /** Name of the probability output (default "probability"). */
  probabilityName?: string;
  /** Leave out the sigmoid: "probability" is the raw logit (out of range). */
  noSigmoid?: boolean;
  /** Leave out the imputation of NaN inputs. */
  noImputation?: boolean;
}

/**
 * A tiny logistic regression with the CAD diagnosis model's contract, built with onnx-proto as the
 * training script builds its graphs: each input imputed (NaN → its manifest imputation value),
 * concatenated, times the weights, plus the bias, through a sigmoid. Options break it on purpose.
 */
export function tinyCadModel(manifest: ModelManifest, o: TinyOptions = {}): Buffer {
  const g = new GraphBuilder();
  const inputs = manifest.inputs.map((i) => {
    const graphName = o.renameInput?.[0] === i.name ? o.renameInput[1] : i.name;
    const shape: Dim[] = o.fixedBatchInput === i.name ? [1, 1] : ['N', 1];
    return { spec: i, graphName, shape, type: o.doubleInput === i.name ? DataType.DOUBLE : DataType.FLOAT };
  });
  const filled = inputs.map(({ spec, graphName, type }) => {
    const x = type === DataType.DOUBLE ? g.op('Cast', [graphName], `${graphName}_f`, [attr.int('to', DataType.FLOAT)]) : graphName;
    if (o.noImputation) return x;
    const nan = g.op('IsNaN', [x], `${graphName}_nan`);
    const imp = g.constant(floatTensor(`${graphName}_imp`, [1, 1], [spec.imputation?.value ?? 0]));
    return g.op('Where', [nan, imp, x], `${graphName}_filled`);
  });
  const row = g.op('Concat', filled, 'row', [attr.int('axis', 1)]);
  const weights = o.weights ?? manifest.inputs.map(() => 0.01);
  const w = g.constant(floatTensor('w', [weights.length, 1], weights));
  const b = g.constant(floatTensor('b', [1], [o.bias ?? 0]));
  const z = g.op('MatMul', [row, w], 'z');
  const probabilityName = o.probabilityName ?? 'probability';
  if (o.noSigmoid) {
    g.op('Add', [z, b], probabilityName);
    g.op('Identity', [probabilityName], 'logit');
  } else {
    g.op('Add', [z, b], 'logit');
    g.op('Sigmoid', ['logit'], probabilityName);
  }
  const bytes = encodeModel({
    graphName: 'tiny_cad',
    graph: g,
    inputs: inputs.map(({ graphName, shape, type }) => valueInfo(graphName, type, shape)),
    outputs: [valueInfo(probabilityName, DataType.FLOAT, ['N', 1]), valueInfo('logit', DataType.FLOAT, ['N', 1])],
    docString: 'test model',
    metadata: [],
    producerVersion: 'test',
    modelVersion: 1,
  });
  return Buffer.from(bytes);
}
