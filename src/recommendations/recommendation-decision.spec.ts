import type { Task } from '@medplum/fhirtypes';
import { recommendationMapper } from '../fhir/projection/mappers/ai-output.mappers';
import { fakeCtx } from '../../test/helpers/mapper-fixtures';
import { OperationOutcomeError } from '../fhir/operation-outcome';
import { decidedTask, decisionReason, MAX_REASON_LENGTH } from './recommendation-decision';
import { recommendationView, statusOf } from './recommendation-view';

const NOW = new Date('2026-11-27T01:00:00.000Z');

const pending = (over: Partial<Task> = {}): Task => ({
  resourceType: 'Task',
  id: 't1',
  meta: { versionId: '1', lastUpdated: '2026-11-26T10:00:00.000Z', source: 'urn:fhir-ai-server:ai-worker', tag: [{ system: 'urn:fhir-ai-server:recommendation-rules', code: '1' }] },
  status: 'requested',
  intent: 'proposal',
  priority: 'routine',
  code: { coding: [{ system: 'urn:fhir-ai-server:ai-task', code: 'recommendation' }] },
  for: { reference: 'Patient/p1' },
  focus: { reference: 'Condition/c1' },
  authoredOn: '2026-11-26T10:00:00.000Z',
  requester: { reference: 'Device/cad-cleveland-1.0.0' },
  reasonReference: { reference: 'RiskAssessment/ra1' },
  description: 'Review the diagnosis',
  ...over,
});

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OperationOutcomeError);
    expect((e as OperationOutcomeError).status).toBe(400);
    return (e as Error).message;
  }
  throw new Error('expected a 400');
}

describe('decisionReason', () => {
  it('is optional to approve and required to reject', () => {
    expect(decisionReason('approve', undefined)).toBeUndefined();
    expect(decisionReason('approve', {})).toBeUndefined();
    expect(decisionReason('approve', { reason: ' fits ' })).toBe('fits');
    expect(decisionReason('reject', { reason: 'no' })).toBe('no');
    expect(refusal(() => decisionReason('reject', {}))).toMatch(/rejection needs a reason/);
    expect(refusal(() => decisionReason('reject', undefined))).toMatch(/rejection needs a reason/);
    expect(refusal(() => decisionReason('reject', { reason: '  ' }))).toMatch(/empty/);
  });

  it('refuses bodies that are not {"reason": string}', () => {
    expect(refusal(() => decisionReason('approve', []))).toMatch(/JSON object/);
    expect(refusal(() => decisionReason('approve', 'yes'))).toMatch(/JSON object/);
    expect(refusal(() => decisionReason('approve', { reason: 1 }))).toMatch(/must be a string/);
    expect(refusal(() => decisionReason('approve', { why: 'x' }))).toMatch(/Unknown field/);
    expect(refusal(() => decisionReason('reject', { reason: 'x'.repeat(MAX_REASON_LENGTH + 1) }))).toMatch(/longer than/);
  });
});

describe('decidedTask', () => {
  it('approves: accepted, owned by the clinician, lastModified now, the decision noted; the rest kept', () => {
    const t = decidedTask(pending(), 'approve', 'dr1', 'fits the picture', NOW);
    expect(t).toMatchObject({
      status: 'accepted',
      owner: { reference: 'Practitioner/dr1' },
      lastModified: NOW.toISOString(),
      note: [{ authorReference: { reference: 'Practitioner/dr1' }, time: NOW.toISOString(), text: 'Approved by the clinician: fits the picture' }],
      focus: { reference: 'Condition/c1' },
      requester: { reference: 'Device/cad-cleveland-1.0.0' },
      reasonReference: { reference: 'RiskAssessment/ra1' },
    });
    expect(t.statusReason).toBeUndefined();
    // The server's meta is the server's to set; the rest of meta stays.
    expect(t.meta).toEqual({ source: 'urn:fhir-ai-server:ai-worker', tag: [{ system: 'urn:fhir-ai-server:recommendation-rules', code: '1' }] });
  });

  it('rejects with the reason as statusReason, keeping earlier notes', () => {
    const t = decidedTask(pending({ note: [{ text: 'earlier' }] }), 'reject', 'dr1', 'normal angiogram', NOW);
    expect(t).toMatchObject({ status: 'rejected', statusReason: { text: 'normal angiogram' } });
    expect(t.note?.map((n) => n.text)).toEqual(['earlier', 'Rejected by the clinician: normal angiogram']);
  });

  it('projects onto recommendations: approved_by_doctor and doctor_id follow the decision', () => {
    const row = (task: Task) => recommendationMapper.toRows(task, fakeCtx)[0].values;
    expect(row(pending())).toMatchObject({ approved_by_doctor: false, doctor_id: null, ai_model_id: 'cad-cleveland-1.0.0', diagnosis_id: 'c1' });
    expect(row(decidedTask(pending(), 'approve', 'dr1', undefined, NOW))).toMatchObject({ approved_by_doctor: true, doctor_id: 'dr1' });
    expect(row(decidedTask(pending(), 'reject', 'dr1', 'no', NOW))).toMatchObject({ approved_by_doctor: false, doctor_id: 'dr1' });
  });
});

describe('recommendationView', () => {
  const model = { id: 'cad-cleveland-1.0.0', name: 'cad-cleveland', version: '1.0.0', task: 'diagnosis-confidence', status: 'active', threshold: { output: 'probability', value: 0.5 } };

  it('names the decision, who made it, when and why', () => {
    const view = recommendationView({ task: decidedTask(pending(), 'reject', 'dr1', 'normal angiogram', NOW), model, basis: new Map() });
    expect(view).toMatchObject({ status: 'rejected', taskStatus: 'rejected', decision: { decision: 'rejected', by: 'Practitioner/dr1', at: NOW.toISOString(), reason: 'normal angiogram' } });
    expect(recommendationView({ task: pending(), model, basis: new Map() }).decision).toBeNull();
  });

  it('warns of a retired model version and of one the registry does not know', () => {
    const retired = recommendationView({ task: pending(), model: { ...model, status: 'retired' }, basis: new Map() });
    expect(retired.model.retired).toBe(true);
    expect(retired.warnings).toEqual([expect.stringMatching(/cad-cleveland-1\.0\.0, which is retired/)]);
    const unknown = recommendationView({ task: pending(), basis: new Map() });
    expect(unknown.model).toMatchObject({ id: 'cad-cleveland-1.0.0', status: 'unknown', retired: false });
    expect(unknown.warnings).toEqual([expect.stringMatching(/not in the registry/)]);
  });

  it('takes the confidence and inputs from the RiskAssessment', () => {
    const view = recommendationView({
      task: pending(),
      model,
      riskAssessment: {
        resourceType: 'RiskAssessment',
        id: 'ra1',
        status: 'final',
        subject: { reference: 'Patient/p1' },
        basis: [{ reference: 'Patient/p1' }, { reference: 'Observation/o1' }, { reference: 'Observation/gone' }],
        prediction: [{ probabilityDecimal: 0.81, outcome: { text: 'CAD' } }],
      },
      basis: new Map([
        ['Observation/o1', { resourceType: 'Observation', id: 'o1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic' }] }, valueQuantity: { value: 160, unit: 'mm[Hg]' }, effectiveDateTime: '2024-05-01' }],
      ]),
    });
    expect(view.confidence).toBe(0.81);
    expect(view.prediction).toEqual({ outcome: 'CAD', probability: 0.81 });
    expect(view.inputs).toEqual([
      { reference: 'Patient/p1', type: 'Patient', display: 'Patient demographics (age, sex)' },
      { reference: 'Observation/o1', type: 'Observation', code: 'http://loinc.org|8480-6', display: 'Systolic', value: '160 mm[Hg]', effective: '2024-05-01' },
      { reference: 'Observation/gone', type: 'Observation' },
    ]);
    expect(view.reason).toMatchObject({ rule: 'diagnosis-probability-at-threshold', rulesVersion: '1', threshold: { value: 0.5 } });
  });

  it('maps Task statuses to pending, approved and rejected', () => {
    expect(['requested', 'accepted', 'in-progress', 'completed', 'rejected', 'cancelled'].map((status) => statusOf(pending({ status: status as Task['status'] })))).toEqual([
      'pending',
      'approved',
      'approved',
      'approved',
      'rejected',
      'cancelled',
    ]);
  });
});
