import type { RiskAssessment, Task } from '@medplum/fhirtypes';
import { AI_SOURCE } from '../../ai/ai-plugin';
import { RECOMMENDATION_CODE } from '../../ai/recommendation-rules';
import { assessmentOf, deviceOf, patientOf, pushKindOf } from './push-rules';

const recommendation = (status: Task['status'], extra: Partial<Task> = {}): Task => ({
  resourceType: 'Task',
  status,
  intent: 'proposal',
  code: { coding: [RECOMMENDATION_CODE] },
  for: { reference: 'Patient/p1' },
  ...extra,
});

describe('push rules', () => {
  it("pushes the AI's RiskAssessments and accepted recommendations, nothing else", () => {
    const ra: RiskAssessment = { resourceType: 'RiskAssessment', status: 'final', subject: { reference: 'Patient/p1' } };
    expect(pushKindOf({ ...ra, meta: { source: AI_SOURCE } })).toBe('ai-result');
    expect(pushKindOf(ra)).toBeUndefined();
    expect(pushKindOf({ ...ra, meta: { source: 'https://ehr.example/RiskAssessment/1' } })).toBeUndefined();
    expect(pushKindOf(recommendation('accepted'))).toBe('approved-recommendation');
    expect(pushKindOf(recommendation('requested'))).toBeUndefined();
    expect(pushKindOf(recommendation('rejected'))).toBeUndefined();
    expect(pushKindOf({ ...recommendation('accepted'), code: { text: 'another task' } })).toBeUndefined();
    // A copy of a decision made elsewhere is not sent on.
    expect(pushKindOf({ ...recommendation('accepted'), meta: { source: 'https://ehr.example/fhir/Task/9' } })).toBeUndefined();
  });

  it('finds the patient, the assessment a recommendation is about, and the model version', () => {
    expect(patientOf(recommendation('accepted'))).toBe('p1');
    expect(patientOf({ resourceType: 'RiskAssessment', status: 'final', subject: { reference: 'Group/g' } })).toBeUndefined();
    expect(assessmentOf(recommendation('accepted', { focus: { reference: 'RiskAssessment/ra1' } }))).toBe('ra1');
    expect(assessmentOf(recommendation('accepted', { focus: { reference: 'Condition/c1' }, reasonReference: { reference: 'RiskAssessment/ra2' } }))).toBe('ra2');
    expect(assessmentOf(recommendation('accepted', { focus: { reference: 'Condition/c1' } }))).toBeUndefined();
    expect(deviceOf({ resourceType: 'RiskAssessment', status: 'final', subject: {}, performer: { reference: 'Device/m-1.0.0' } })).toBe('m-1.0.0');
  });
});
