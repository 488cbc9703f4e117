import type { Device, Flag, Reference, RiskAssessment, Task } from '@medplum/fhirtypes';
import type { ModelManifest } from './model-manifest';

/** The version of these rules, tagged on every recommendation they make. Change it with the rules. */
export const RULES_VERSION = '1';
export const RULES_TAG = { system: 'urn:fhir-ai-server:recommendation-rules', code: RULES_VERSION };
export const RECOMMENDATION_CODE = { system: 'urn:fhir-ai-server:ai-task', code: 'recommendation', display: 'AI recommendation awaiting a clinician' };
export const EMERGENCY_ALERT_CODE = { system: 'urn:fhir-ai-server:alert', code: 'emergency', display: 'Emergency alert' };

/**
 * Recommendations from an AI output, by versioned rules: a diagnosis confidence at or above the
 * model card's threshold, and an urgent triage (priority at or below the card's threshold, 1 or 2),
 * each yield a pending recommendation for a clinician (a Task, intent proposal, status requested);
 * an urgent triage also raises an emergency alert (a Flag). The AI never approves: a clinician
 * accepts or rejects the Task. Pure.
 */
/**
 * What a newer output on the same focus does to the AI's recommendations still pending about it
 * (a Condition's new version scored again): each is cancelled, naming the output that replaces it,
 * so that a clinician sees one pending recommendation per Condition, from its latest prediction
 * (recommendationsFor adds a new one if that prediction reaches the threshold). Decided ones are
 * left alone: only a clinician accepts or rejects. Pure.
 */
export function supersededBy(pending: Task[], output: RiskAssessment & { id: string }, now = new Date()): Task[] {
  return pending
    .filter((t) => t.status === 'requested')
    .map((t) => ({
      ...t,
      status: 'cancelled' as const,
      statusReason: { text: `Superseded by a newer prediction (RiskAssessment/${output.id}) on ${output.condition?.reference ?? 'the same input'}` },
      lastModified: now.toISOString(),
    }));
}

export function recommendationsFor(
  manifest: ModelManifest,
  modelRef: Reference<Device>,
  output: RiskAssessment & { id: string },
): Array<Task | Flag> {
  const patient = output.subject as Reference;
  const prediction = output.prediction?.[0];
  const common = {
    meta: { tag: [RULES_TAG] },
    status: 'requested' as const,
    intent: 'proposal' as const,
    code: { coding: [RECOMMENDATION_CODE] },
    for: patient,
    authoredOn: new Date().toISOString(),
    requester: modelRef,
    reasonReference: { reference: `RiskAssessment/${output.id}` },
  };
  if (manifest.task === 'diagnosis-confidence' && typeof prediction?.probabilityDecimal === 'number') {
    if (prediction.probabilityDecimal < manifest.threshold.value) return [];
    const condition = manifest.condition?.display ?? 'the condition';
    const task: Task = {
      resourceType: 'Task',
      ...common,
      priority: 'routine',
      ...(output.condition ? { focus: output.condition } : {}),
      description: `Review the diagnosis of ${condition}: the model ${manifest.name} ${manifest.version} estimates a probability of ${prediction.probabilityDecimal.toFixed(2)} (threshold ${manifest.threshold.value}).`,
    };
    return [task];
  }
  if (manifest.task === 'triage') {
    const code = prediction?.outcome?.coding?.[0]?.code;
    const priority = code && /^[1-5]$/.test(code) ? Number(code) : undefined;
    if (priority === undefined || priority > manifest.threshold.value) return [];
    const task: Task = {
      resourceType: 'Task',
      ...common,
      priority: priority === 1 ? 'stat' : 'asap',
      ...(output.encounter ? { encounter: output.encounter } : {}),
      focus: { reference: `RiskAssessment/${output.id}` },
      description: `Triage priority ${priority} (${priority === 1 ? 'immediate' : 'very urgent'}): assess the patient now.`,
    };
    const flag: Flag = {
      resourceType: 'Flag',
      meta: { tag: [RULES_TAG] },
      status: 'active',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical' }] }],
      code: { coding: [EMERGENCY_ALERT_CODE], text: `Urgent triage: priority ${priority}` },
      subject: patient as Flag['subject'],
      ...(output.encounter ? { encounter: output.encounter } : {}),
      period: { start: new Date().toISOString() },
      author: modelRef,
    };
    return [task, flag];
  }
  return [];
}
