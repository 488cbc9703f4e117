import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RiskAssessment, Task } from '@medplum/fhirtypes';
import type { ModelManifest } from './model-manifest';
import { EMERGENCY_ALERT_CODE, RECOMMENDATION_CODE, RULES_TAG, recommendationsFor, supersededBy } from './recommendation-rules';

const manifest = (name: string) => JSON.parse(readFileSync(path.join(__dirname, '../../models', name, 'manifest.json'), 'utf8')) as ModelManifest;
const cad = manifest('cad-cleveland');
const triage = manifest('triage-news2');
const device = { reference: 'Device/m-1' };

function diagnosis(p: number): RiskAssessment & { id: string } {
  return { resourceType: 'RiskAssessment', id: 'ra1', status: 'final', subject: { reference: 'Patient/p1' }, condition: { reference: 'Condition/c1' }, prediction: [{ probabilityDecimal: p }] };
}

function triaged(priority: number): RiskAssessment & { id: string } {
  return {
    resourceType: 'RiskAssessment',
    id: 'ra2',
    status: 'final',
    subject: { reference: 'Patient/p1' },
    prediction: [{ outcome: { coding: [{ system: 'urn:fhir-ai-server:triage-priority', code: String(priority) }] } }],
  };
}

describe('recommendationsFor', () => {
  it('recommends a review of a diagnosis at or above the model card threshold, never below', () => {
    expect(recommendationsFor(cad, device, diagnosis(cad.threshold.value - 0.01))).toEqual([]);
    const [task] = recommendationsFor(cad, device, diagnosis(cad.threshold.value));
    expect(task).toMatchObject({
      resourceType: 'Task',
      status: 'requested',
      intent: 'proposal',
      code: { coding: [RECOMMENDATION_CODE] },
      for: { reference: 'Patient/p1' },
      focus: { reference: 'Condition/c1' },
      requester: device,
      reasonReference: { reference: 'RiskAssessment/ra1' },
      meta: { tag: [RULES_TAG] },
    });
  });

  it('raises an alert and an urgent recommendation for triage priorities 1 and 2 only', () => {
    for (const p of [1, 2]) {
      const out = recommendationsFor(triage, device, triaged(p));
      expect(out.map((r) => r.resourceType)).toEqual(['Task', 'Flag']);
      expect(out[0]).toMatchObject({ priority: p === 1 ? 'stat' : 'asap', focus: { reference: 'RiskAssessment/ra2' } });
      expect(out[1]).toMatchObject({ status: 'active', code: { coding: [EMERGENCY_ALERT_CODE] }, author: device });
    }
    for (const p of [3, 4, 5]) expect(recommendationsFor(triage, device, triaged(p))).toEqual([]);
  });

  it('recommends nothing without a prediction (too little known)', () => {
    expect(recommendationsFor(cad, device, { ...diagnosis(0.9), prediction: undefined })).toEqual([]);
  });
});

describe('supersededBy', () => {
  const task = (id: string, status: Task['status']): Task => ({ resourceType: 'Task', id, status, intent: 'proposal', focus: { reference: 'Condition/c1' } });

  it('cancels the pending recommendations, naming the output that replaces them, and leaves decided ones alone', () => {
    const now = new Date('2024-06-01T12:00:00Z');
    const out = supersededBy([task('t1', 'requested'), task('t2', 'accepted'), task('t3', 'rejected'), task('t4', 'requested')], diagnosis(0.7), now);
    expect(out).toEqual(
      ['t1', 't4'].map((id) => ({
        ...task(id, 'requested'),
        status: 'cancelled',
        statusReason: { text: 'Superseded by a newer prediction (RiskAssessment/ra1) on Condition/c1' },
        lastModified: '2024-06-01T12:00:00.000Z',
      })),
    );
  });
});
