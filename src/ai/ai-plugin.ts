import type { Observation, Patient, Resource } from '@medplum/fhirtypes';
import type { ResourceEvent } from '../outbox/outbox.repository';
import type { ModelOutputs } from './inference.service';
import type { AiTask } from './model-manifest';
import type { RegisteredModel } from './model-registry.service';
import type { RuleDefinition, RuleTask } from './rules/rule-catalog';
import type { ActiveRule } from './rules/rule-registry.service';
import type { PredictionValue } from './rules/rule-predictions';

/**
 * Written on every resource the AI writes, naming the writer (no other writer may store it, see
 * src/fhir/write/ai-source.ts). Whether a write triggers the AI is decided by its outbox actor,
 * never by this field.
 */
export { AI_SOURCE } from '../fhir/write/ai-source';
/** Identifier system of AI outputs: one output per job (task and input version), however often it runs. */
export const AI_JOB_SYSTEM = 'urn:fhir-ai-server:ai-job';

/** The task of a plugin: a model task (ONNX versions in ai_models) or a rule task (rule versions in ai_models). */
export type PluginTask = AiTask | RuleTask;

/**
 * When a plugin runs:
 * - `queued`: by the AI worker (ai-tasks queue) after the trigger's transaction commits; its outputs are new resources;
 * - `in-write`: inside the write transaction of its trigger, because what is stored needs the answer
 *   (a Claim is stored already flagged; a reading with its suggestion);
 * - `on-request`: computed when someone asks (a forecast), from what is stored then.
 */
export type PluginRuns = 'queued' | 'in-write' | 'on-request';

/** A change that may trigger a plugin (an outbox event, or a write in progress described the same way). */
export type TriggerEvent = Pick<ResourceEvent, 'action' | 'resourceType' | 'resourceId' | 'versionId' | 'patientId'>;

/** The change a write in progress makes, as a trigger (in-write plugins see it before it is stored). Pure. */
export function writeTrigger(resource: Resource, previous: Resource | undefined, patientId: string | null): TriggerEvent {
  return {
    action: previous ? 'update' : 'create',
    resourceType: resource.resourceType,
    resourceId: resource.id as string,
    versionId: Number(previous?.meta?.versionId ?? 0) + 1,
    patientId,
  };
}

/** A version of a plugin's task: a row of ai_models, described by the Device `Device/<id>` that every output names. */
export interface PluginVersion {
  id: string;
}

/** The engine of a plugin whose versions are ONNX models: InferenceService runs the version's file on the prepared row. */
export interface OnnxEngine {
  readonly kind: 'onnx';
}

/** The engine of a plugin whose versions are rules: the code of the rule, run with the version's parameters. */
export interface RuleEngine<Prepared, Result> {
  readonly kind: 'rule';
  /** Pure: what this version (its parameters) makes of the prepared input. */
  evaluate(rule: RuleDefinition, prepared: Prepared): Result;
  /** Pure: what the result counts as in ai_predictions (a model's score and class come from its manifest instead). */
  scored(result: Result, prepared: Prepared): PredictionValue;
}

export const ONNX_ENGINE: OnnxEngine = { kind: 'onnx' };

/** One AI job: a task on one version of one resource. */
export interface AiJob {
  task: AiTask;
  resourceType: string;
  resourceId: string;
  versionId: number;
  patientId: string | null;
}

/** What the queued runner gathers for a plugin: the trigger, its patient and the patient's Observations. */
export interface PluginInput {
  job: AiJob;
  jobId: string;
  resource: Resource;
  patient?: Patient;
  observations: Observation[];
  /** What the plugin's own `context` read for this job (e.g. whether a reading is from an ICU). */
  context?: Record<string, unknown>;
}

/** A model plugin's model input: the row for the model, or the reason no estimate can be made. */
export type PreparedInput =
  | { kind: 'run'; row: Record<string, number | string>; basis: string[]; imputed: string[]; problems: string[] }
  | { kind: 'insufficient'; basis: string[]; imputed: string[]; problems: string[]; reason: string }
  /** The input cannot be used at all (empty text...): the job fails with the reason, writing nothing. */
  | { kind: 'fail'; reason: string };

/** What a queued plugin writes: entries of one transaction, the first the output proper (found again by its job identifier). */
export interface PluginOutputs {
  create: Resource[];
  update?: Resource;
  /**
   * Earlier outputs this one replaces (a pending recommendation cancelled), each written only if
   * still at the version read (If-Match): a clinician's decision in between fails the job, whose
   * retry reads it again and leaves it alone.
   */
  supersede?: Array<{ resource: Resource; versionId: number }>;
}

/**
 * An AI behaviour. Every one, model or rule, is a plugin of this interface: it names its task, when
 * it runs, which resource changes trigger it, which version serves a trigger (a row of ai_models:
 * an ONNX model or a rule version), how the version's input is built from FHIR data (pure), the
 * engine that runs the version, and what the result is as FHIR (pure). PluginCore
 * (src/ai/plugins/plugin-core.ts) does the steps they share: pick the active version and its
 * shadows, prepare and run each, build the outputs, record every version's prediction in
 * ai_predictions. Adding a behaviour is adding a plugin to the catalogue; a new version of a task is
 * registered in ai_models (a model file, or a rule version the code implements), not coded into
 * the plugin.
 *
 * The type parameters default to a model plugin's (the AI worker's built-ins); a rule plugin names
 * its own input, prepared input, result and output.
 */
export interface AiPlugin<Input = PluginInput, Prepared = PreparedInput, Result = ModelOutputs | undefined, Output = PluginOutputs, Version extends PluginVersion = RegisteredModel> {
  readonly task: PluginTask;
  readonly runs: PluginRuns;
  readonly engine: OnnxEngine | RuleEngine<Prepared, Result>;
  /** The resource types whose writes may trigger it (none for an on-request plugin). */
  readonly resourceTypes: readonly string[];
  /**
   * Whether this change (a create or update of one of resourceTypes, `resource` as it is stored)
   * triggers the task. The AI's own writes never reach it (the fan-out passes over them by their
   * outbox actor, AiTaskRunner.mayTrigger): it judges the content, not who wrote it.
   */
  triggers(event: TriggerEvent, resource: Resource): boolean | Promise<boolean>;
  /**
   * The version for this trigger, or undefined when there is none (nothing to do). Without it, the
   * task's active version in ai_models serves (PluginCore.versions: one lookup for both kinds);
   * a plugin says more only when its task has several active versions (diagnosis: one per condition).
   */
  model?(trigger?: Resource): Promise<Version | undefined>;
  /**
   * Queued plugins, optional: the result is about the patient's current inputs, not about the
   * trigger (triage: any new vital sign or request asks for the same assessment). Then the
   * triggers of one write transaction for one patient make one job (job-coalescing.ts), and a job
   * whose inputs (the model version, the resources in `basis` and the values fed from them;
   * result-basis.ts) are those of the patient's latest result by that version writes no new
   * result (one result per input version; AiTaskRunner, under a per-patient lock).
   */
  readonly resultPerPatient?: boolean;
  /**
   * Queued plugins with resultPerPatient, optional: what a job whose result exists already writes
   * instead of a new one (a request Task completed pointing at that result). Pure.
   */
  reused?(input: Input, existingOutput: string): Resource | undefined;
  /** Queued plugins: whether the runner loads the patient's Observations for prepare(). */
  readonly needsObservations?: boolean;
  /**
   * Queued plugins, optional: the codes (of any system) of the Observations prepare() reads for
   * this version; an Observation matches by its code or a component's. The runner then loads only
   * those, not every Observation of the patient (a long monitoring stream). Undefined: all.
   */
  observationCodes?(version: Version, resource: Resource): readonly string[] | undefined;
  /**
   * Queued plugins, optional: what prepare() and outputs() need beyond the trigger and the
   * patient's data (it may read, or ask the version's model something).
   */
  context?(resource: Resource, version: Version): Promise<Record<string, unknown>>;
  /** Pure: the version's input from what was gathered (features for a model, the rule's arguments). */
  prepare(version: Version, input: Input): Prepared;
  /**
   * Pure: what records the result, naming the version (its Device). A model plugin: the resources
   * written in one transaction through the one write path (the first is the output proper, with its
   * Provenance, and an update of the trigger if the task writes back to it). A rule plugin: the
   * trigger as it is stored, annotated, or the answer to the request.
   */
  outputs(version: Version, input: Input, prepared: Prepared, result: Result): Output;
}

/** A plugin whose versions are ONNX models (the AI worker's built-ins). */
export type ModelPlugin = AiPlugin & { readonly task: AiTask; readonly engine: OnnxEngine };

/** A plugin whose versions are rules implemented in code (the hospital modules' behaviours). */
export type RulePlugin<Input, Prepared, Result, Output> = AiPlugin<Input, Prepared, Result, Output, ActiveRule> & { readonly task: RuleTask; readonly engine: RuleEngine<Prepared, Result> };

/** Any plugin, as the catalogue holds them. */
export type AnyAiPlugin = AiPlugin<any, any, any, any, any>;
