import { numberParameter } from '../../ai/rules/rule-outputs';
import type { RuleDefinition } from '../../ai/rules/rule-catalog';

/**
 * The bed occupancy forecast (`occupancy_prediction`), a documented, versioned method:
 *
 * Holt-Winters additive exponential smoothing with weekly seasonality (m = 7) on the daily
 * occupancy series (beds occupied at some moment of each day), fixed smoothing constants
 * α = 0.4 (level), β = 0.1 (trend), γ = 0.3 (season):
 *   level   L_t = α (y_t − s_{t−m}) + (1 − α)(L_{t−1} + T_{t−1})
 *   trend   T_t = β (L_t − L_{t−1}) + (1 − β) T_{t−1}
 *   season  s_t = γ (y_t − L_t) + (1 − γ) s_{t−m}
 *   forecast ŷ_{n+h} = L_n + h T_n + s_{n−m+((h−1) mod m)}
 * Initialised from the first two weeks: T = (mean of week 2 − mean of week 1) / m, the level at the
 * end of week 1 = mean of week 1 + T (m − 1)/2, and s_i = y_i − (mean of week 1 + T (i − (m − 1)/2)),
 * so a series that is exactly trend + weekly pattern is forecast exactly.
 * With fewer than two weeks of history: seasonal naive (the same weekday last week) with at least one
 * week, else the mean of what there is (0 with none). Forecasts are clamped to [0, capacity] (the
 * number of beds) and rounded to 2 decimals.
 */
export const FORECAST_METHOD = {
  name: 'holt-winters-additive-weekly',
  version: '1.0.0',
  seasonLength: 7,
  alpha: 0.4,
  beta: 0.1,
  gamma: 0.3,
} as const;

export interface Forecast {
  /** `holt-winters-additive-weekly`, `seasonal-naive` or `mean`. */
  method: string;
  values: number[];
}

/** A version of the method: its name, version and smoothing parameters (ai_models, task occupancy-forecast). */
export interface ForecastMethod {
  name: string;
  version: string;
  seasonLength: number;
  alpha: number;
  beta: number;
  gamma: number;
}

/** A rule version's method (its parameters over the 1.0.0 defaults). Pure. */
export function forecastMethodOf(rule: RuleDefinition): ForecastMethod {
  return {
    name: rule.name,
    version: rule.version,
    seasonLength: numberParameter(rule, 'seasonLength', FORECAST_METHOD.seasonLength),
    alpha: numberParameter(rule, 'alpha', FORECAST_METHOD.alpha),
    beta: numberParameter(rule, 'beta', FORECAST_METHOD.beta),
    gamma: numberParameter(rule, 'gamma', FORECAST_METHOD.gamma),
  };
}

export function forecastOccupancy(history: readonly number[], horizon: number, capacity = Infinity, params: ForecastMethod = FORECAST_METHOD): Forecast {
  const m = params.seasonLength;
  const n = history.length;
  let method: string;
  let raw: number[];
  if (n >= 2 * m) {
    method = params.name;
    raw = holtWinters(history, horizon, params);
  } else if (n >= m) {
    method = 'seasonal-naive';
    raw = Array.from({ length: horizon }, (_, h) => history[n - m + (h % m)]);
  } else {
    method = 'mean';
    const mean = n ? history.reduce((a, b) => a + b, 0) / n : 0;
    raw = Array.from({ length: horizon }, () => mean);
  }
  return { method, values: raw.map((v) => round2(Math.min(capacity, Math.max(0, v)))) };
}

function holtWinters(y: readonly number[], horizon: number, params: ForecastMethod): number[] {
  const { seasonLength: m, alpha, beta, gamma } = params;
  const mean = (a: readonly number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const week1 = mean(y.slice(0, m));
  let trend = (mean(y.slice(m, 2 * m)) - week1) / m;
  let level = week1 + (trend * (m - 1)) / 2;
  const season: number[] = y.slice(0, m).map((v, i) => v - (week1 + trend * (i - (m - 1) / 2)));
  for (let t = m; t < y.length; t++) {
    const previousLevel = level;
    const s = season[t - m];
    level = alpha * (y[t] - s) + (1 - alpha) * (level + trend);
    trend = beta * (level - previousLevel) + (1 - beta) * trend;
    season.push(gamma * (y[t] - level) + (1 - gamma) * s);
  }
  const n = y.length;
  return Array.from({ length: horizon }, (_, i) => level + (i + 1) * trend + season[n - m + (i % m)]);
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
