import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { badRequest } from '../../fhir/operation-outcome';
import { BedsRepository, type BedRowView } from './beds.repository';
import { bucketsOf, INTERVAL_MS, occupancyCounts, wardKey, type OccupancyBucket, type OccupancyInterval } from './occupancy';
import { forecastMethodOf, type ForecastMethod } from './occupancy-forecast';
import { OCCUPANCY_FORECAST_PLUGIN, type WardForecast } from './occupancy-forecast.plugin';
import { PluginCore } from '../../ai/plugins/plugin-core';
import { queryInstant } from '../query-instant';

export type { WardForecast } from './occupancy-forecast.plugin';

const DAY = 86_400_000;
const MAX_BUCKETS = 2000;
/** Days of daily occupancy the forecast learns from (eight weeks: several weekly seasons). */
export const FORECAST_HISTORY_DAYS = 56;
/** How often beds.occupied is brought up to date for periods that ended with no write. */
const REFRESH_MS = 60_000;
const ACTOR = 'system:beds';

export interface OccupancyReport {
  from: string;
  to: string;
  interval: OccupancyInterval;
  beds: { total: number; wards: Record<string, number> };
  buckets: OccupancyBucket[];
}

export interface ForecastReport {
  /** The rule version that made the forecast (the active one in ai_models) and its Device, `model`. */
  method: ForecastMethod & { model: string };
  generated_at: string;
  history: { from: string; to: string; days: number };
  total: WardForecast;
  wards: WardForecast[];
}

@Injectable()
export class BedsService implements OnModuleInit, OnModuleDestroy {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly repo: BedsRepository,
    private readonly plugins: PluginCore,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.repo.refreshOccupancy(ACTOR).catch(() => undefined), REFRESH_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The beds now: occupied flags brought up to date first. */
  async beds(): Promise<BedRowView[]> {
    await this.repo.refreshOccupancy(ACTOR);
    return this.repo.beds();
  }

  async occupancy(fromParam: unknown, toParam: unknown, intervalParam: unknown): Promise<OccupancyReport> {
    const interval = (intervalParam ?? 'day') as OccupancyInterval;
    if (typeof interval !== 'string' || !Object.hasOwn(INTERVAL_MS, interval)) throw badRequest('interval must be hour, day or week', ['interval']);
    const today = startOfDay(Date.now());
    const to = toParam === undefined ? today + DAY : queryInstant(toParam, 'to');
    const from = fromParam === undefined ? to - 7 * DAY : queryInstant(fromParam, 'from');
    if (!(from < to)) throw badRequest('from must be before to', ['from']);
    if ((to - from) / INTERVAL_MS[interval] > MAX_BUCKETS) throw badRequest(`At most ${MAX_BUCKETS} intervals per request: shorten the range or widen the interval`, ['interval']);
    const beds = await this.repo.beds();
    const stays = await this.repo.occupiedStays(from, to);
    const infos = this.repo.bedInfos(beds);
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      interval,
      beds: { total: beds.length, wards: countByWard(beds) },
      buckets: occupancyCounts(stays, infos, bucketsOf(from, to, interval)),
    };
  }

  /**
   * Forecasts daily occupancy for `days` days from today, per ward and in total, from the last
   * FORECAST_HISTORY_DAYS complete days (see occupancy-forecast.ts), by the occupancy forecast
   * plugin (occupancy-forecast.plugin.ts) with the active version of the method in ai_models, and stores each ward's forecast on its beds (`beds.occupancy_prediction`),
   * naming the version (`method_version` and its Device, `model`).
   */
  async forecast(daysParam: unknown, now = Date.now()): Promise<ForecastReport> {
    const days = daysParam === undefined ? 7 : Number(daysParam);
    if (!Number.isInteger(days) || days < 1 || days > 90) throw badRequest('days must be a whole number from 1 to 90', ['days']);
    const today = startOfDay(now);
    const from = today - FORECAST_HISTORY_DAYS * DAY;
    const beds = await this.repo.beds();
    const stays = await this.repo.occupiedStays(from, today);
    const history = occupancyCounts(stays, this.repo.bedInfos(beds), bucketsOf(from, today, 'day'));
    const capacity = countByWard(beds);
    const dates = Array.from({ length: days }, (_, i) => new Date(today + i * DAY).toISOString().slice(0, 10));
    const plugin = OCCUPANCY_FORECAST_PLUGIN;
    const versions = await this.plugins.versions(plugin);
    if (!versions) throw new Error('No version of occupancy-forecast is active');
    const rule = versions.active;
    const generatedAt = new Date(now).toISOString();
    // Counted per version: the forecast of all beds, with the shadow versions run beside it on the same history.
    const where = { input: { ref: 'beds/forecast' }, at: generatedAt, patientId: null, outputRef: null };
    const all = await this.plugins.run(plugin, versions, { ward: 'all', history: history.map((b) => b.occupied), capacity: beds.length, dates }, where);
    const total = all.output;
    // Each ward: the active version alone (not counted).
    const wards: WardForecast[] = [];
    for (const w of Object.keys(capacity).sort()) {
      wards.push((await this.plugins.run(plugin, { active: rule, shadows: [] }, { ward: w, history: history.map((b) => b.wards[w] ?? 0), capacity: capacity[w], dates }, where)).output);
    }
    const predictions = new Map<string | null, unknown>();
    for (const w of wards) {
      predictions.set(w.ward === wardKey(null) ? null : w.ward.slice('Location/'.length), {
        method: rule.definition.name,
        method_version: rule.definition.version,
        model: rule.device,
        fitted_with: w.method,
        generated_at: generatedAt,
        ward: w.ward,
        ward_beds: w.beds,
        forecast: w.forecast,
      });
    }
    await this.repo.savePredictions(ACTOR, predictions, (tx) => this.plugins.save(tx, all.records));
    return {
      method: { ...forecastMethodOf(rule.definition), model: rule.device },
      generated_at: generatedAt,
      history: { from: new Date(from).toISOString(), to: new Date(today).toISOString(), days: FORECAST_HISTORY_DAYS },
      total,
      wards,
    };
  }
}

function countByWard(beds: BedRowView[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of beds) out[wardKey(b.ward)] = (out[wardKey(b.ward)] ?? 0) + 1;
  return out;
}

function startOfDay(t: number): number {
  return Math.floor(t / 86_400_000) * 86_400_000;
}

