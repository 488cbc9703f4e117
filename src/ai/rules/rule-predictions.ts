import type { PredictionRecord } from '../model-stats/prediction-record';
import type { ActiveRule } from './rule-registry.service';

/** One output of a rule version, counted in ai_predictions like a model's prediction. */
export interface RulePrediction {
  /** The trigger, `Type/id` (and its version, when known); or what was asked for (`beds/forecast`). */
  input: { ref: string; versionId?: number };
  patientId: string | null;
  /** Where the output was written, `Type/id`, if it is a resource. */
  outputRef: string | null;
  score: number | null;
  label: string | null;
  outputs?: Record<string, number[]>;
  /** Distinguishes evaluations of an input without a version (a forecast at one instant). */
  at?: string;
}

/** Where a prediction was made (its input and output); the same for the active version and its shadows. */
export type PredictionPlace = Pick<RulePrediction, 'input' | 'patientId' | 'outputRef' | 'at'>;
/** What a version made of the input, as counted. */
export type PredictionValue = Pick<RulePrediction, 'score' | 'label' | 'outputs'>;

/**
 * The ai_predictions row of a rule's output (pure): the job id names the task, the input and its
 * version (else the instant), so that the record is unique per evaluation; it is written in the
 * transaction of the output, so a rolled-back write leaves no count.
 */
export function rulePredictionRecord(rule: ActiveRule, p: RulePrediction): PredictionRecord {
  const inputRef = p.input.versionId !== undefined ? `${p.input.ref}/_history/${p.input.versionId}` : p.input.ref;
  return {
    modelId: rule.id,
    jobId: `${rule.definition.task}/${inputRef}${p.at ? `/${p.at}` : ''}`.slice(0, 255),
    patientId: p.patientId,
    task: rule.definition.task,
    inputRef: inputRef.slice(0, 200),
    outputRef: p.outputRef,
    shadow: false,
    score: p.score,
    label: p.label,
    outputs: p.outputs ?? null,
    latencyMs: null,
    inputs: null,
    error: null,
  };
}
