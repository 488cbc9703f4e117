import type { Reference, Resource, RiskAssessment, Task } from '@medplum/fhirtypes';
import { AI_SOURCE } from '../../ai/ai-plugin';
import { isCopy, isRecommendation } from '../../recommendations/recommendation-view';

/** Why a resource version goes to the patient's home EHR. */
export type PushKind = 'ai-result' | 'approved-recommendation';

const LOCAL_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/**
 * Whether a resource version is pushed: an AI result (a RiskAssessment the AI wrote) or an
 * approved recommendation (a recommendation Task accepted by a clinician). Pure.
 */
export function pushKindOf(resource: Resource): PushKind | undefined {
  if (resource.resourceType === 'RiskAssessment' && resource.meta?.source === AI_SOURCE) return 'ai-result';
  // A copy of a decision made elsewhere (pulled, or pushed here by another server) is not sent on.
  if (resource.resourceType === 'Task' && isRecommendation(resource) && resource.status === 'accepted' && !isCopy(resource)) return 'approved-recommendation';
  return undefined;
}

/** The local id of a reference of the given type, if it is one. Pure. */
export function refId(ref: Reference | undefined, type: string): string | undefined {
  const m = typeof ref?.reference === 'string' ? LOCAL_REF.exec(ref.reference) : null;
  return m && m[1] === type ? m[2] : undefined;
}

/** The patient a pushed resource is about (RiskAssessment.subject, Task.for). Pure. */
export function patientOf(resource: Resource): string | undefined {
  if (resource.resourceType === 'RiskAssessment') return refId(resource.subject, 'Patient');
  if (resource.resourceType === 'Task') return refId(resource.for, 'Patient');
  return undefined;
}

/**
 * The AI result a recommendation is about: its focus when that is a RiskAssessment (triage), else
 * its reason (diagnosis recommendations focus on the Condition and give the RiskAssessment as the
 * reason). Pure.
 */
export function assessmentOf(task: Task): string | undefined {
  return refId(task.focus, 'RiskAssessment') ?? refId(task.reasonReference, 'RiskAssessment');
}

/** The model version (Device) that made an AI result. Pure. */
export function deviceOf(assessment: RiskAssessment): string | undefined {
  return refId(assessment.performer, 'Device');
}
