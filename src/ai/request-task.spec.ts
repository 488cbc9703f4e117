import type { Task } from '@medplum/fhirtypes';
import { AI_SOURCE } from './ai-plugin';
import { completedRequest } from './request-task';

const request: Task = { resourceType: 'Task', id: 't1', meta: { versionId: '1' }, status: 'requested', intent: 'order', for: { reference: 'Patient/p1' } };

describe('request Tasks', () => {
  it('completes a request pointing at its result, as the AI', () => {
    expect(completedRequest(request, 'RiskAssessment/r1', 'triage')).toEqual({
      ...request,
      meta: { versionId: '1', source: AI_SOURCE },
      status: 'completed',
      output: [{ type: { text: 'triage' }, valueReference: { reference: 'RiskAssessment/r1' } }],
    });
  });
});
