import type { Device, Flag, Observation, Reference, RiskAssessment, Task } from '@medplum/fhirtypes';
import type { ModelManifest } from './model-manifest';
import { EMERGENCY_ALERT_CODE, RECOMMENDATION_CODE, RULES_TAG } from './recommendation-rules';

/**
 * What a flagged vital-sign reading calls for, by the same versioned rules as the other AI outputs
 * (tagged RULES_TAG): a pending recommendation for a clinician to review the reading (a Task,
 * intent proposal; `stat` in an ICU, `asap` otherwise), and, for an ICU reading, an emergency alert
 * (a Flag, projected to emergency_alerts as raised) that subscriptions deliver to the clinician.
 * A reading not flagged calls for nothing. The AI never approves. Pure.
 */
export function anomalyAlertsFor(
  manifest: ModelManifest,
  modelRef: Reference<Device>,
  output: RiskAssessment & { id: string },
  reading: Observation,
  icu: string | null,
): Array<Task | Flag> {
  const prediction = output.prediction?.[0];
  const score = prediction?.probabilityDecimal;
  if (typeof score !== 'number' || score < manifest.threshold.value) return [];
  const patient = output.subject as Reference;
  const what = prediction?.outcome?.text ?? 'an anomalous vital sign';
  const task: Task = {
    resourceType: 'Task',
    meta: { tag: [RULES_TAG] },
    status: 'requested',
    intent: 'proposal',
    code: { coding: [RECOMMENDATION_CODE] },
    for: patient,
    authoredOn: new Date().toISOString(),
    requester: modelRef,
    reasonReference: { reference: `RiskAssessment/${output.id}` },
    focus: { reference: `Observation/${reading.id}` },
    ...(reading.encounter ? { encounter: reading.encounter } : {}),
    priority: icu ? 'stat' : 'asap',
    description: `Review the reading: ${what} (anomaly score ${score.toFixed(2)}, threshold ${manifest.threshold.value}${icu ? `; ICU: ${icu}` : ''}).`,
  };
  if (!icu) return [task];
  const flag: Flag = {
    resourceType: 'Flag',
    meta: { tag: [RULES_TAG] },
    status: 'active',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical' }] }],
    // Short: the text becomes emergency_alerts.alert_type (varchar 100); the RiskAssessment says what was measured.
    code: { coding: [EMERGENCY_ALERT_CODE], text: `ICU vital-sign anomaly (score ${score.toFixed(2)})` },
    subject: patient as Flag['subject'],
    ...(reading.encounter ? { encounter: reading.encounter } : {}),
    period: { start: new Date().toISOString() },
    author: modelRef,
  };
  return [task, flag];
}
