/**
 * Limited-memory BFGS with a backtracking (Armijo) line search: the one optimiser of the training
 * run. Full-batch and free of randomness, so the same data and starting point give the same
 * weights bit for bit.
 */

/** Returns the loss at w and writes its gradient into grad. */
export type Objective = (w: Float64Array, grad: Float64Array) => number;

export interface LbfgsOptions {
  maxIterations?: number;
  /** History size. */
  memory?: number;
  /** Stop when the gradient's infinity norm falls below this. */
  gradientTolerance?: number;
  /** Stop when the loss improves by less than this (relative) over an iteration. */
  lossTolerance?: number;
}

export interface LbfgsResult {
  w: Float64Array;
  loss: number;
  iterations: number;
  converged: boolean;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function normInf(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export function lbfgs(f: Objective, w0: Float64Array, options: LbfgsOptions = {}): LbfgsResult {
  const maxIterations = options.maxIterations ?? 500;
  const m = options.memory ?? 10;
  const gtol = options.gradientTolerance ?? 1e-6;
  const ftol = options.lossTolerance ?? 1e-12;
  const n = w0.length;
  let w = Float64Array.from(w0);
  let g = new Float64Array(n);
  let loss = f(w, g);
  const sHist: Float64Array[] = [];
  const yHist: Float64Array[] = [];
  const rhoHist: number[] = [];
  const d = new Float64Array(n);
  const alpha = new Array<number>(m);
  let iterations = 0;
  let converged = normInf(g) < gtol;
  while (!converged && iterations < maxIterations) {
    iterations++;
    // Two-loop recursion: d = -H g.
    for (let i = 0; i < n; i++) d[i] = -g[i];
    for (let k = sHist.length - 1; k >= 0; k--) {
      alpha[k] = rhoHist[k] * dot(sHist[k], d);
      const y = yHist[k];
      for (let i = 0; i < n; i++) d[i] -= alpha[k] * y[i];
    }
    if (sHist.length) {
      const last = sHist.length - 1;
      const gamma = dot(sHist[last], yHist[last]) / dot(yHist[last], yHist[last]);
      for (let i = 0; i < n; i++) d[i] *= gamma;
    } else {
      const scale = 1 / Math.max(1, Math.sqrt(dot(g, g)));
      for (let i = 0; i < n; i++) d[i] *= scale;
    }
    for (let k = 0; k < sHist.length; k++) {
      const beta = rhoHist[k] * dot(yHist[k], d);
      const s = sHist[k];
      for (let i = 0; i < n; i++) d[i] += s[i] * (alpha[k] - beta);
    }
    let slope = dot(g, d);
    if (slope >= 0) {
      // Not a descent direction: restart from steepest descent.
      sHist.length = yHist.length = rhoHist.length = 0;
      const scale = 1 / Math.max(1, Math.sqrt(dot(g, g)));
      for (let i = 0; i < n; i++) d[i] = -g[i] * scale;
      slope = dot(g, d);
    }
    // Backtracking line search (Armijo).
    let step = 1;
    const wNew = new Float64Array(n);
    const gNew = new Float64Array(n);
    let lossNew = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let i = 0; i < n; i++) wNew[i] = w[i] + step * d[i];
      lossNew = f(wNew, gNew);
      if (Number.isFinite(lossNew) && lossNew <= loss + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(lossNew <= loss)) {
      converged = true; // no further progress possible
      break;
    }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = wNew[i] - w[i];
      y[i] = gNew[i] - g[i];
    }
    const sy = dot(s, y);
    if (sy > 1e-12) {
      if (sHist.length === m) {
        sHist.shift();
        yHist.shift();
        rhoHist.shift();
      }
      sHist.push(s);
      yHist.push(y);
      rhoHist.push(1 / sy);
    }
    const improvement = loss - lossNew;
    w = wNew;
    g = gNew;
    loss = lossNew;
    if (normInf(g) < gtol || improvement <= ftol * Math.max(1, Math.abs(loss))) converged = true;
  }
  return { w, loss, iterations, converged };
}
