import type { AiJob, PreparedInput } from '../ai-plugin';
import type { ModelOutputs } from '../inference.service';
import type { ModelManifest } from '../model-manifest';

/** One model version's prediction on one job: a row of ai_predictions. */
export interface PredictionRecord {
  modelId: string;
  jobId: string;
  patientId: string | null;
  task: string;
  inputRef: string;
  outputRef: string | null;
  shadow: boolean;
  score: number | null;
  label: string | null;
  outputs: ModelOutputs | null;
  latencyMs: number | null;
  inputs: RecordedInputs | null;
  error: string | null;
  /** A per-patient result's exact inputs (result-basis.ts); absent for other tasks. */
  basis?: string | null;
}

/** The feature values a model was fed, imputed ones marked; text inputs by length only (never the text). */
export type RecordedInputs = Record<string, { value: number | null; imputed: boolean } | { chars: number }>;

/** The score a version's predictions are summarised by: its manifest's threshold output (probability, priority, score). */
export function scoreOf(manifest: ModelManifest, outputs: ModelOutputs | undefined): number | null {
  const v = outputs?.[manifest.threshold.output]?.[0];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * The class a score falls in, compared between versions for agreement: the value itself for a
 * labelled integer output (a triage priority), else `positive` at or above the manifest's
 * threshold and `negative` below it.
 */
export function labelOf(manifest: ModelManifest, score: number | null): string | null {
  if (score === null) return null;
  const out = manifest.outputs.find((o) => o.name === manifest.threshold.output);
  if (out?.labels?.length && out.elementType.startsWith('int')) return String(Math.round(score));
  return score >= manifest.threshold.value ? 'positive' : 'negative';
}

/** The inputs as fed (NaN marks an input the graph imputes: recorded as the card's imputation value). */
export function recordedInputs(manifest: ModelManifest, prepared: PreparedInput): RecordedInputs | null {
  if (prepared.kind !== 'run') return null;
  const imputed = new Set(prepared.imputed);
  const out: RecordedInputs = {};
  for (const input of manifest.inputs) {
    const v = prepared.row[input.name];
    if (typeof v === 'string') {
      out[input.name] = { chars: v.length };
      continue;
    }
    const isImputed = imputed.has(input.name) || v === undefined || !Number.isFinite(v);
    out[input.name] = { value: isImputed ? (input.imputation?.value ?? null) : v, imputed: isImputed };
  }
  return out;
}

export interface RecordContext {
  modelId: string;
  manifest: ModelManifest;
  job: AiJob;
  jobId: string;
  shadow: boolean;
  outputRef?: string | null;
}

/** The record of a model run (or of a job with too little input for a run). Pure. */
export function predictionRecord(ctx: RecordContext, prepared: PreparedInput, outputs: ModelOutputs | undefined, latencyMs: number | null): PredictionRecord {
  const score = prepared.kind === 'run' ? scoreOf(ctx.manifest, outputs) : null;
  return {
    ...identity(ctx),
    score,
    label: labelOf(ctx.manifest, score),
    outputs: outputs ?? null,
    latencyMs: latencyMs === null ? null : Math.round(latencyMs * 1000) / 1000,
    inputs: recordedInputs(ctx.manifest, prepared),
    error: prepared.kind === 'run' && score === null ? `no finite ${ctx.manifest.threshold.output} in the model's outputs` : null,
  };
}

/** The record of a version that failed on a job (a shadow: the job goes on without it). Pure. */
export function failedRecord(ctx: RecordContext, error: string, latencyMs: number | null): PredictionRecord {
  return { ...identity(ctx), score: null, label: null, outputs: null, latencyMs, inputs: null, error: error.slice(0, 1000) };
}

function identity(ctx: RecordContext): Pick<PredictionRecord, 'modelId' | 'jobId' | 'patientId' | 'task' | 'inputRef' | 'outputRef' | 'shadow'> {
  return {
    modelId: ctx.modelId,
    jobId: ctx.jobId,
    patientId: ctx.job.patientId,
    task: ctx.job.task,
    inputRef: `${ctx.job.resourceType}/${ctx.job.resourceId}/_history/${ctx.job.versionId}`,
    outputRef: ctx.shadow ? null : (ctx.outputRef ?? null),
    shadow: ctx.shadow,
  };
}
