import { lbfgs, type LbfgsOptions } from './optimize';
import { Prng } from './prng';

/** Binary logistic regression (L2) on sparse rows, and a one-hidden-layer softmax network. */

/** A row as (column index, value) pairs; columns not listed are 0. */
export interface SparseRow {
  idx: Int32Array;
  val: Float64Array;
}

export function denseToSparse(row: readonly number[]): SparseRow {
  return { idx: Int32Array.from(row.map((_, i) => i)), val: Float64Array.from(row) };
}

export interface LogisticModel {
  weights: Float64Array;
  bias: number;
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** log(1 + exp(z)) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

export function logit(model: LogisticModel, row: SparseRow): number {
  let z = model.bias;
  for (let k = 0; k < row.idx.length; k++) z += model.weights[row.idx[k]] * row.val[k];
  return z;
}

export function predictLogistic(model: LogisticModel, rows: readonly SparseRow[]): number[] {
  return rows.map((r) => sigmoid(logit(model, r)));
}

/**
 * Minimises mean log-loss + (lambda / 2) * |w|^2 (the bias is not penalised) by L-BFGS from zero:
 * deterministic.
 */
export function trainLogistic(rows: readonly SparseRow[], y: readonly number[], dim: number, lambda: number, options: LbfgsOptions = {}): LogisticModel {
  const n = rows.length;
  const objective = (p: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    const b = p[dim];
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      let z = b;
      for (let k = 0; k < r.idx.length; k++) z += p[r.idx[k]] * r.val[k];
      // y=1: log(1+e^-z); y=0: log(1+e^z)
      loss += y[i] ? softplus(-z) : softplus(z);
      const err = sigmoid(z) - y[i];
      for (let k = 0; k < r.idx.length; k++) grad[r.idx[k]] += err * r.val[k];
      grad[dim] += err;
    }
    let reg = 0;
    for (let j = 0; j < dim; j++) {
      grad[j] = grad[j] / n + lambda * p[j];
      reg += p[j] * p[j];
    }
    grad[dim] /= n;
    return loss / n + 0.5 * lambda * reg;
  };
  const res = lbfgs(objective, new Float64Array(dim + 1), { maxIterations: 1000, gradientTolerance: 1e-7, ...options });
  return { weights: res.w.slice(0, dim), bias: res.w[dim] };
}

/** inputs -> tanh hidden layer -> softmax over classes. Weight matrices row-major [in][out]. */
export interface SoftmaxNet {
  inputs: number;
  hidden: number;
  classes: number;
  w1: Float64Array;
  b1: Float64Array;
  w2: Float64Array;
  b2: Float64Array;
}

function unpack(p: Float64Array, d: number, h: number, k: number): SoftmaxNet {
  let o = 0;
  const take = (len: number) => p.subarray(o, (o += len));
  return { inputs: d, hidden: h, classes: k, w1: take(d * h), b1: take(h), w2: take(h * k), b2: take(k) };
}

/** Class probabilities of each row. */
export function predictNet(net: SoftmaxNet, rows: readonly (readonly number[])[]): number[][] {
  const { inputs: d, hidden: h, classes: k } = net;
  const a = new Float64Array(h);
  return rows.map((x) => {
    for (let j = 0; j < h; j++) {
      let s = net.b1[j];
      for (let i = 0; i < d; i++) s += x[i] * net.w1[i * h + j];
      a[j] = Math.tanh(s);
    }
    const z = new Array<number>(k);
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      let s = net.b2[c];
      for (let j = 0; j < h; j++) s += a[j] * net.w2[j * k + c];
      z[c] = s;
      max = Math.max(max, s);
    }
    let sum = 0;
    for (let c = 0; c < k; c++) sum += (z[c] = Math.exp(z[c] - max));
    return z.map((v) => v / sum);
  });
}

export function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/**
 * Trains the network on standardised rows with labels 0..classes-1: mean cross-entropy +
 * (lambda / 2) * (|W1|^2 + |W2|^2), full-batch L-BFGS from a seeded Glorot-normal start.
 */
export function trainNet(
  rows: readonly (readonly number[])[],
  y: readonly number[],
  hidden: number,
  classes: number,
  lambda: number,
  seed: number,
  options: LbfgsOptions = {},
): SoftmaxNet {
  const d = rows[0].length;
  const h = hidden;
  const k = classes;
  const n = rows.length;
  const size = d * h + h + h * k + k;
  const p0 = new Float64Array(size);
  const prng = new Prng(seed);
  const init = unpack(p0, d, h, k);
  for (let i = 0; i < init.w1.length; i++) init.w1[i] = prng.normal(0, Math.sqrt(2 / (d + h)));
  for (let i = 0; i < init.w2.length; i++) init.w2[i] = prng.normal(0, Math.sqrt(2 / (h + k)));
  const X = rows.map((r) => Float64Array.from(r));
  const a = new Float64Array(h);
  const z = new Float64Array(k);
  const dz = new Float64Array(k);
  const da = new Float64Array(h);
  const objective = (p: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    const net = unpack(p, d, h, k);
    const gr = unpack(grad, d, h, k);
    let loss = 0;
    for (let r = 0; r < n; r++) {
      const x = X[r];
      for (let j = 0; j < h; j++) {
        let s = net.b1[j];
        for (let i = 0; i < d; i++) s += x[i] * net.w1[i * h + j];
        a[j] = Math.tanh(s);
      }
      let max = -Infinity;
      for (let c = 0; c < k; c++) {
        let s = net.b2[c];
        for (let j = 0; j < h; j++) s += a[j] * net.w2[j * k + c];
        z[c] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let c = 0; c < k; c++) sum += Math.exp(z[c] - max);
      const lse = max + Math.log(sum);
      loss += lse - z[y[r]];
      for (let c = 0; c < k; c++) dz[c] = Math.exp(z[c] - lse) - (c === y[r] ? 1 : 0);
      for (let c = 0; c < k; c++) gr.b2[c] += dz[c];
      for (let j = 0; j < h; j++) {
        let s = 0;
        for (let c = 0; c < k; c++) {
          gr.w2[j * k + c] += a[j] * dz[c];
          s += net.w2[j * k + c] * dz[c];
        }
        da[j] = s * (1 - a[j] * a[j]);
        gr.b1[j] += da[j];
      }
      for (let i = 0; i < d; i++) {
        const xi = x[i];
        if (xi === 0) continue;
        const base = i * h;
        for (let j = 0; j < h; j++) gr.w1[base + j] += xi * da[j];
      }
    }
    for (let i = 0; i < size; i++) grad[i] /= n;
    let reg = 0;
    for (const [wv, gv] of [
      [net.w1, gr.w1],
      [net.w2, gr.w2],
    ]) {
      for (let i = 0; i < wv.length; i++) {
        reg += wv[i] * wv[i];
        gv[i] += lambda * wv[i];
      }
    }
    return loss / n + 0.5 * lambda * reg;
  };
  const res = lbfgs(objective, p0, { maxIterations: 2000, gradientTolerance: 1e-6, lossTolerance: 1e-12, ...options });
  const out = unpack(Float64Array.from(res.w), d, h, k);
  return { ...out, w1: Float64Array.from(out.w1), b1: Float64Array.from(out.b1), w2: Float64Array.from(out.w2), b2: Float64Array.from(out.b2) };
}
