import type { RulePlugin } from '../../ai/ai-plugin';
import { forecastMethodOf, forecastOccupancy, type Forecast } from './occupancy-forecast';

/** What the beds service gathers for one forecast: a ward (or `all`), its daily occupancy history, its beds, the days to forecast. */
export interface OccupancyInput {
  ward: string;
  history: number[];
  capacity: number;
  /** The days forecast, YYYY-MM-DD, from today. */
  dates: string[];
}

export interface OccupancyPrepared {
  history: readonly number[];
  horizon: number;
  capacity: number;
}

/** One ward's forecast, as `GET /api/beds/forecast` answers it and beds.occupancy_prediction keeps it. */
export interface WardForecast {
  ward: string;
  beds: number;
  method: string;
  history: number[];
  forecast: Array<{ date: string; occupied: number; rate: number | null }>;
}

/**
 * Bed occupancy forecast (task occupancy-forecast; versions `holt-winters-additive-weekly` in
 * ai_models): a rule version's parameters are the smoothing constants (occupancy-forecast.ts).
 */
export const OCCUPANCY_FORECAST_PLUGIN: RulePlugin<OccupancyInput, OccupancyPrepared, Forecast, WardForecast> = {
  task: 'occupancy-forecast',
  // On request: a forecast is of the days ahead from the stays stored when someone asks (GET /api/beds/forecast),
  // not of any one write; the answer is also stored on the beds (beds.occupancy_prediction), naming its version.
  runs: 'on-request',
  resourceTypes: [],
  triggers: () => false,
  engine: {
    kind: 'rule',
    evaluate: (rule, { history, horizon, capacity }) => forecastOccupancy(history, horizon, capacity, forecastMethodOf(rule)),
    scored: (f) => ({ score: f.values[0] ?? null, label: null, outputs: { occupied: f.values } }),
  },
  prepare: (_rule, { history, capacity, dates }) => ({ history, horizon: dates.length, capacity }),
  outputs: (_rule, { ward, history, capacity, dates }, _prepared, f) => ({
    ward,
    beds: capacity,
    method: f.method,
    history,
    forecast: f.values.map((occupied, i) => ({ date: dates[i], occupied, rate: capacity ? Math.round((occupied / capacity) * 1000) / 1000 : null })),
  }),
};
