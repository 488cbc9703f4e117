import { predictNet, trainNet, type SoftmaxNet } from './models';
import { GraphBuilder, attr, floatTensor } from './onnx';
import { fitScaler, standardise, stratifiedSplit, type Scaler } from './stats';

/** How a small network is fitted: one tanh hidden layer, L2, L-BFGS, seeded. */
export interface MlpOptions {
  hidden: number;
  lambda: number;
  maxIterations: number;
  initSeed: number;
  splitSeed: number;
}

export interface FittedMlp {
  train: number[];
  test: number[];
  scaler: Scaler;
  /** Every row standardised with the training rows' scaler. */
  Z: number[][];
  net: SoftmaxNet;
  /** Class probabilities of the held-out rows. */
  testProbs: number[][];
}

/** A stratified 80/20 split, the scaler fitted on the training rows, the network on them, and its held-out probabilities. */
export function fitMlp(X: readonly (readonly number[])[], y: readonly number[], classes: number, o: MlpOptions): FittedMlp {
  const { train, test } = stratifiedSplit(y, 0.2, o.splitSeed);
  const scaler = fitScaler(train.map((i) => X[i]));
  const Z = standardise(X, scaler);
  const net = trainNet(
    train.map((i) => Z[i]),
    train.map((i) => y[i]),
    o.hidden,
    classes,
    o.lambda,
    o.initSeed,
    { maxIterations: o.maxIterations },
  );
  return { train, test, scaler, Z, net, testProbs: predictNet(net, test.map((i) => Z[i])) };
}

/**
 * The graph of a fitted network up to its logits: each input's NaN replaced by its imputation
 * value, the inputs concatenated (as `features`), standardised, the tanh hidden layer, the output
 * layer. Returns the name of the logits tensor; the caller adds the head (softmax, sigmoid...).
 */
export function mlpLogits(g: GraphBuilder, inputs: ReadonlyArray<{ name: string; imputation: number }>, features: string, fitted: Pick<FittedMlp, 'scaler' | 'net'>, hidden: number, classes: number): string {
  const filled = inputs.map((inp) => {
    const nan = g.op('IsNaN', [inp.name], `${inp.name}_is_missing`);
    return g.op('Where', [nan, g.constant(floatTensor(`${inp.name}_imputation`, [1, 1], [inp.imputation])), inp.name], `${inp.name}_filled`);
  });
  const d = inputs.length;
  const { scaler, net } = fitted;
  const raw = g.op('Concat', filled, features, [attr.int('axis', 1)]);
  const centred = g.op('Sub', [raw, g.constant(floatTensor(`${features}_mean`, [1, d], scaler.mean))], `${features}_centred`);
  const z = g.op('Div', [centred, g.constant(floatTensor(`${features}_sd`, [1, d], scaler.sd))], `${features}_standardised`);
  const h1 = g.op('MatMul', [z, g.constant(floatTensor('hidden_weights', [d, hidden], net.w1))], 'hidden_linear');
  const h2 = g.op('Add', [h1, g.constant(floatTensor('hidden_bias', [hidden], net.b1))], 'hidden_preactivation');
  const h = g.op('Tanh', [h2], 'hidden');
  const o1 = g.op('MatMul', [h, g.constant(floatTensor('output_weights', [hidden, classes], net.w2))], 'output_linear');
  return g.op('Add', [o1, g.constant(floatTensor('output_bias', [classes], net.b2))], 'logits');
}
