import type { Observation, Patient, Resource } from '@medplum/fhirtypes';
import type { ResourceEvent } from '../outbox/outbox.repository';
import type { ModelOutputs } from './inference.service';
import type { AiTask } from './model-manifest';
import type { RegisteredModel } from './model-registry.service';

/** Written on every resource the AI writes, so that its own writes never trigger it again. */
export const AI_SOURCE = 'urn:fhir-ai-server:ai-worker';
/** Identifier system of AI outputs: one output per job (task and input version), however often it runs. */
export const AI_JOB_SYSTEM = 'urn:fhir-ai-server:ai-job';

/** One AI job: a task on one version of one resource. */
export interface AiJob {
  task: AiTask;
  resourceType: string;
  resourceId: string;
  versionId: number;
  patientId: string | null;
}

/** What the runner gathers for a plugin: the trigger, its patient and the patient's Observations. */
export interface PluginInput {
  job: AiJob;
  jobId: string;
  resource: Resource;
  patient?: Patient;
  observations: Observation[];
  /** What the plugin's own `context` read for this job (e.g. whether a reading is from an ICU). */
  context?: Record<string, unknown>;
}

/** A plugin's model input: the row for the model, or the reason no estimate can be made. */
export type PreparedInput =
  | { kind: 'run'; row: Record<string, number | string>; basis: string[]; imputed: string[]; problems: string[] }
  | { kind: 'insufficient'; basis: string[]; imputed: string[]; problems: string[]; reason: string }
  /** The input cannot be used at all (empty text...): the job fails with the reason, writing nothing. */
  | { kind: 'fail'; reason: string };

/**
 * An AI task. A plugin says which resource changes trigger it, which model version serves a
 * trigger, how the model's input is built from FHIR data (pure), and what the output is as FHIR
 * (pure): entries of one transaction, written through the server's one write path. Adding a task
 * is adding a plugin; a new model version for a task is registered, not coded.
 */
export interface AiPlugin {
  task: AiTask;
  /** Whether this change (already known to be a create or update of the current version) triggers the task. */
  triggers(event: ResourceEvent, resource: Resource): boolean | Promise<boolean>;
  /** The model version for this trigger, or undefined when there is none (nothing to do). */
  model(resource: Resource): Promise<RegisteredModel | undefined>;
  /** Whether the plugin needs the patient's Observations. */
  needsObservations: boolean;
  /**
   * Optional: the codes (of any system) of the Observations prepare() reads for this model
   * version; an Observation matches by its code or a component's. The runner then loads only
   * those, not every Observation of the patient (a long monitoring stream). Undefined: all.
   */
  observationCodes?(model: RegisteredModel, resource: Resource): readonly string[] | undefined;
  /** Optional: what prepare() and outputs() need beyond the trigger and the patient's data (it may read); run before prepare(). */
  context?(resource: Resource): Promise<Record<string, unknown>>;
  prepare(model: RegisteredModel, input: PluginInput): PreparedInput;
  /**
   * The resources that record the result, with their ids (the first is the output proper, found
   * again by its job identifier), its Provenance, and an update of the trigger if the task writes
   * back to it. Written in one transaction through the one write path.
   */
  outputs(model: RegisteredModel, input: PluginInput, prepared: PreparedInput, outputs: ModelOutputs | undefined): PluginOutputs;
}

export interface PluginOutputs {
  create: Resource[];
  update?: Resource;
}
