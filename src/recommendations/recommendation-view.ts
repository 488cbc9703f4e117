import type { Observation, Provenance, Reference, Resource, RiskAssessment, Task } from '@medplum/fhirtypes';
import { RECOMMENDATION_CODE, RULES_TAG } from '../ai/recommendation-rules';
import { localRefId } from '../fhir/projection/mappers/mapper-utils';
import { AI_SOURCE } from '../fhir/write/ai-source';

/** What the API calls a recommendation's state; the Task statuses behind each. */
export type RecommendationStatus = 'pending' | 'approved' | 'rejected';
export const TASK_STATUSES: Record<RecommendationStatus, Task['status'][]> = {
  pending: ['requested'],
  approved: ['accepted', 'in-progress', 'completed'],
  rejected: ['rejected'],
};

/** The registry's record of the model version that made a recommendation (ai_models). */
export interface ModelInfo {
  id: string;
  name: string | null;
  version: string | null;
  task: string | null;
  status: string;
  /** The manifest's threshold: what made the output a recommendation. */
  threshold?: { output: string; value: number; meaning?: string };
}

/** An input the model used, as the RiskAssessment's basis names it. */
export interface InputView {
  reference: string;
  type: string;
  code?: string;
  display?: string;
  value?: string;
  effective?: string;
}

/** One recommendation as GET /api/recommendations answers it. */
export interface RecommendationView {
  id: string;
  task: string;
  patient: string | null;
  status: RecommendationStatus | Task['status'];
  taskStatus: Task['status'];
  priority: Task['priority'] | null;
  description: string | null;
  created: string | null;
  lastModified: string | null;
  lastUpdated: string | null;
  versionId: string | null;
  /** The registry's record; status `unknown` when the version is not registered. */
  model: Omit<ModelInfo, 'id'> & { id: string | null; retired: boolean };
  confidence: number | null;
  prediction: { outcome: string | null; probability: number | null } | null;
  inputs: InputView[];
  notes: string[];
  riskAssessment: string | null;
  provenance: string | null;
  focus: string | null;
  reason: { rule: string; rulesVersion: string | null; description: string; threshold: ModelInfo['threshold'] | null };
  decision: { decision: 'approved' | 'rejected'; by: string | null; at: string | null; reason: string | null } | null;
  warnings: string[];
}

/** What a view is built from: the Task and what it points at, loaded beforehand. */
export interface ViewSources {
  task: Task;
  riskAssessment?: RiskAssessment;
  model?: ModelInfo;
  provenance?: Provenance;
  /** The basis resources that could be read, keyed `Type/id`. */
  basis: Map<string, Resource>;
}

/** Whether a Task is one of the AI's recommendations (code urn:fhir-ai-server:ai-task#recommendation). Pure. */
export function isRecommendation(task: Resource | undefined): task is Task {
  return task?.resourceType === 'Task' && !!task.code?.coding?.some((c) => c.system === RECOMMENDATION_CODE.system && c.code === RECOMMENDATION_CODE.code);
}

/** A recommendation recorded from elsewhere: it names its origin (meta.source); this server's own never do (the AI's source is dropped from every other writer's). Pure. */
export function isCopy(task: Task): boolean {
  return typeof task.meta?.source === 'string' && task.meta.source !== '' && task.meta.source !== AI_SOURCE;
}

export function statusOf(task: Task): RecommendationStatus | Task['status'] {
  for (const [status, taskStatuses] of Object.entries(TASK_STATUSES)) if (taskStatuses.includes(task.status)) return status as RecommendationStatus;
  return task.status;
}

/** The note a decision leaves on the Task, so the reason travels with the resource. */
export const DECISION_NOTE_PREFIX = { approved: 'Approved by the clinician', rejected: 'Rejected by the clinician' } as const;

/** The view of one recommendation. Pure. */
export function recommendationView(src: ViewSources): RecommendationView {
  const { task, riskAssessment: ra, model, provenance } = src;
  const prediction = ra?.prediction?.[0];
  const probability = typeof prediction?.probabilityDecimal === 'number' ? prediction.probabilityDecimal : null;
  const outcome = prediction?.outcome ? (prediction.outcome.text ?? prediction.outcome.coding?.[0]?.display ?? prediction.outcome.coding?.[0]?.code ?? null) : null;
  const deviceId = localRefId(task.requester, 'Device') ?? null;
  const retired = model?.status === 'retired';
  const status = statusOf(task);
  const warnings: string[] = [];
  if (retired) warnings.push(`Made by the model version ${model.id}, which is retired: weigh it accordingly`);
  if (!model) warnings.push(deviceId ? `The model version ${deviceId} is not in the registry` : 'The recommendation names no model version');
  if (isCopy(task)) warnings.push(`Recorded from elsewhere (${task.meta?.source}): decided there, not through this server's approvals`);
  return {
    id: task.id as string,
    task: `Task/${task.id}`,
    patient: task.for?.reference ?? null,
    status,
    taskStatus: task.status,
    priority: task.priority ?? null,
    description: task.description ?? null,
    created: task.authoredOn ?? null,
    lastModified: task.lastModified ?? null,
    lastUpdated: task.meta?.lastUpdated ?? null,
    versionId: task.meta?.versionId ?? null,
    model: model ? { ...model, retired } : { id: deviceId, name: null, version: null, task: null, status: 'unknown', retired: false },
    confidence: probability,
    prediction: prediction ? { outcome, probability } : null,
    inputs: (ra?.basis ?? []).map((b) => inputView(b, src.basis)),
    notes: (ra?.note ?? []).map((n) => n.text).filter((t): t is string => !!t),
    riskAssessment: ra ? `RiskAssessment/${ra.id}` : (task.reasonReference?.reference ?? null),
    provenance: provenance ? `Provenance/${provenance.id}` : null,
    focus: task.focus?.reference ?? null,
    reason: reasonOf(task, model),
    decision: decisionOf(task, status),
    warnings,
  };
}

/** Why the recommendation was raised: the versioned rule that made it, from the model's task and threshold. */
function reasonOf(task: Task, model: ModelInfo | undefined): RecommendationView['reason'] {
  const rulesVersion = task.meta?.tag?.find((t) => t.system === RULES_TAG.system)?.code ?? null;
  const threshold = model?.threshold ?? null;
  let rule = 'unknown';
  let description = task.description ?? 'No description';
  if (model?.task === 'diagnosis-confidence') {
    rule = 'diagnosis-probability-at-threshold';
    description = `A diagnosis probability at or above the model card's threshold${threshold ? ` (${threshold.value})` : ''} yields a recommendation for a clinician to approve or reject. ${task.description ?? ''}`.trim();
  } else if (model?.task === 'triage') {
    rule = 'urgent-triage';
    description = `A triage priority at or below the model card's threshold${threshold ? ` (${threshold.value})` : ''} (1 immediate, 2 very urgent) yields an urgent recommendation. ${task.description ?? ''}`.trim();
  }
  return { rule, rulesVersion, description, threshold };
}

function decisionOf(task: Task, status: RecommendationView['status']): RecommendationView['decision'] {
  if (status !== 'approved' && status !== 'rejected') return null;
  const prefix = DECISION_NOTE_PREFIX[status];
  const note = [...(task.note ?? [])].reverse().find((n) => n.text?.startsWith(prefix));
  const noted = note?.text?.slice(prefix.length).replace(/^:\s*/, '') || null;
  return {
    decision: status,
    by: task.owner?.reference ?? null,
    at: task.lastModified ?? null,
    reason: status === 'rejected' ? (task.statusReason?.text ?? noted) : noted,
  };
}

function inputView(ref: Reference, read: Map<string, Resource>): InputView {
  const reference = ref.reference ?? ref.display ?? 'unknown';
  const type = reference.split('/')[0];
  // Patients are not read (their record is encrypted and the models take only age and sex).
  if (type === 'Patient') return { reference, type, display: 'Patient demographics (age, sex)' };
  const r = read.get(reference);
  if (!r) return { reference, type, ...(ref.display ? { display: ref.display } : {}) };
  if (r.resourceType === 'Observation') {
    const coding = r.code.coding?.find((c) => c.code);
    return compact({
      reference,
      type,
      code: coding ? `${coding.system ?? ''}|${coding.code}` : undefined,
      display: r.code.text ?? coding?.display,
      value: observationValue(r),
      effective: r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.issued,
    });
  }
  if (r.resourceType === 'Condition') {
    const coding = r.code?.coding?.find((c) => c.code);
    return compact({ reference, type, code: coding ? `${coding.system ?? ''}|${coding.code}` : undefined, display: r.code?.text ?? coding?.display, effective: r.recordedDate ?? r.onsetDateTime });
  }
  return { reference, type };
}

function observationValue(o: Observation): string | undefined {
  if (o.valueQuantity?.value !== undefined) {
    const unit = o.valueQuantity.unit ?? o.valueQuantity.code;
    return unit ? `${o.valueQuantity.value} ${unit}` : String(o.valueQuantity.value);
  }
  if (o.valueInteger !== undefined) return String(o.valueInteger);
  if (o.valueBoolean !== undefined) return String(o.valueBoolean);
  if (o.valueString !== undefined) return o.valueString;
  if (o.valueCodeableConcept) return o.valueCodeableConcept.text ?? o.valueCodeableConcept.coding?.[0]?.display ?? o.valueCodeableConcept.coding?.[0]?.code;
  if (o.component?.length) return o.component.map((c) => `${c.code.text ?? c.code.coding?.[0]?.code}: ${c.valueQuantity?.value ?? ''}${c.valueQuantity?.unit ? ` ${c.valueQuantity.unit}` : ''}`).join('; ');
  return undefined;
}

function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
