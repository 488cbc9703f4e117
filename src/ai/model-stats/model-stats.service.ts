import { Injectable } from '@nestjs/common';
import { notFound } from '../../fhir/operation-outcome';
import type { ModelManifest } from '../model-manifest';
import { labelOf } from './prediction-record';
import { PredictionRepository, type ModelRow, type PredictionCounts, type StoredPrediction } from './prediction.repository';
import { agreement, inputDrift, latencyStats, MIN_DRIFT_VALUES, scoreDistribution, type Agreement, type InputDrift, type LatencyStats, type ScoreDistribution } from './score-stats';

export interface ModelStats {
  model: { id: string; name: string | null; version: string | null; task: string | null; status: string };
  counts: PredictionCounts;
  /** The latest scored predictions the distributions below are computed over. */
  window: { predictions: number; limit: number; since: string | null };
  latencyMs: LatencyStats;
  scores: ScoreDistribution;
  classes: Record<string, number>;
  drift: { method: string; summary: string; inputs: InputDrift[] };
  /** For a version that has run as a shadow: agreement with the active version on the same jobs. */
  agreement?: Agreement & { against: string[] };
}

export interface PredictionItem {
  jobId: string;
  patient: string | null;
  input: string;
  output: string | null;
  shadow: boolean;
  score: number | null;
  class: string | null;
  latencyMs: number | null;
  inputs: unknown;
  error: string | null;
  createdAt: string;
}

export const DRIFT_METHOD =
  'Observed (not imputed) input values against the model card\'s training mean and sd: standardised mean difference (pooled sd) and ' +
  'population stability index against a normal approximation of the training distribution (10 equal-probability bins; integer bins ' +
  `for categorical and count inputs; Bernoulli for binary ones). PSI >= 0.25 or |SMD| >= 0.5: significant; PSI >= 0.1 or |SMD| >= 0.2: moderate; fewer than ${MIN_DRIFT_VALUES} values: not judged.`;

/** The statistics and the listing of a model version's predictions, from ai_predictions. */
@Injectable()
export class ModelStatsService {
  constructor(private readonly predictions: PredictionRepository) {}

  async stats(id: string, limit: number, since?: Date): Promise<ModelStats> {
    const model = await this.model(id);
    const manifest = model.manifest?.threshold ? model.manifest : null; // a rule version's manifest has no model outputs to summarise
    const [counts, rows] = await Promise.all([this.predictions.counts(id, since), this.predictions.window(id, limit, since)]);
    const scores = rows.map((r) => r.score as number);
    const classes: Record<string, number> = {};
    if (manifest) for (const s of scores) classes[labelOf(manifest, s) as string] = (classes[labelOf(manifest, s) as string] ?? 0) + 1;
    const scoreName = manifest?.threshold.output ?? 'score';
    const drift = (manifest?.inputs ?? []).map((input) => {
      const observed: number[] = [];
      let imputed = 0;
      for (const r of rows) {
        const v = r.inputs?.[input.name];
        if (!v || !('imputed' in v)) continue;
        if (v.imputed) imputed++;
        else if (typeof v.value === 'number') observed.push(v.value);
      }
      return inputDrift(input, observed, imputed);
    });
    const stats: ModelStats = {
      model: { id: model.id, name: model.name, version: model.version, task: model.task, status: model.status },
      counts,
      window: { predictions: rows.length, limit, since: since?.toISOString() ?? null },
      latencyMs: latencyStats(rows.map((r) => r.latency_ms).filter((v): v is number => v !== null)),
      scores: scoreDistribution(manifest?.outputs.find((o) => o.name === scoreName), scoreName, scores),
      classes,
      drift: { method: DRIFT_METHOD, summary: driftSummary(drift, rows.length), inputs: drift },
    };
    if (counts.shadowRuns > 0) {
      const pairs = await this.predictions.pairs(id, limit, since);
      stats.agreement = {
        ...agreement(pairs.map((p) => ({ active: { score: p.active_score, label: p.active_label }, shadow: { score: p.shadow_score, label: p.shadow_label } }))),
        against: [...new Set(pairs.map((p) => p.active_model))],
      };
    }
    return stats;
  }

  /** `ageInputs`: the version's inputs that are ages in years (what a pseudonymous listing top-codes). */
  async page(id: string, count: number, after?: { at: string; jobId: string }, patientId?: string): Promise<{ items: PredictionItem[]; next?: { at: string; jobId: string }; ageInputs: Set<string> }> {
    const model = await this.model(id);
    const ageInputs = new Set((model.manifest?.inputs ?? []).filter((i) => (i.code?.system === 'http://loinc.org' && i.code.code === '30525-0') || i.unit === 'a').map((i) => i.name));
    const rows = await this.predictions.page(id, count + 1, after, patientId);
    const more = rows.length > count;
    const page = rows.slice(0, count);
    const last = page[page.length - 1];
    return { items: page.map(item), ...(more && last ? { next: { at: last.at, jobId: last.job_id } } : {}), ageInputs };
  }

  private async model(id: string): Promise<ModelRow & { manifest: ModelManifest | null }> {
    const model = await this.predictions.model(id);
    if (!model) throw notFound(`No model version ${id}`);
    return model;
  }
}

function item(r: StoredPrediction): PredictionItem {
  return {
    jobId: r.job_id,
    patient: r.patient_id ? `Patient/${r.patient_id}` : null,
    input: r.input_ref,
    output: r.output_ref,
    shadow: r.shadow,
    score: r.score,
    class: r.label,
    latencyMs: r.latency_ms,
    inputs: r.inputs,
    error: r.error,
    createdAt: new Date(r.created_at).toISOString(),
  };
}

/** One sentence on the drift of all inputs. Pure. */
export function driftSummary(inputs: InputDrift[], predictions: number): string {
  const judged = inputs.filter((d) => d.level !== 'not-assessed');
  if (!judged.length) return 'The model card gives no training distribution for these inputs: drift is not assessed.';
  if (judged.every((d) => d.level === 'insufficient-data')) {
    return `Too few observed values to judge drift yet (${predictions} predictions; at least ${MIN_DRIFT_VALUES} observed values per input are needed).`;
  }
  const significant = judged.filter((d) => d.level === 'significant').map((d) => d.input);
  const moderate = judged.filter((d) => d.level === 'moderate').map((d) => d.input);
  if (!significant.length && !moderate.length) return 'No input has drifted from the training distribution in the model card.';
  return [
    significant.length ? `Significant drift in ${significant.length} of ${judged.length} inputs (${significant.join(', ')}): predictions may be less reliable than the model card says.` : '',
    moderate.length ? `Moderate drift in ${moderate.join(', ')}: worth watching.` : '',
  ].filter(Boolean).join(' ');
}
