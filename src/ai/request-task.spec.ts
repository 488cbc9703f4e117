import type { Task } from '@medplum/fhirtypes';
import { AI_SOURCE } from './ai-plugin';
import { completedRequest, failedRequest, isOpenRequest } from './request-task';

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

  it('fails a request with its reason in statusReason and output, shortened past 1000 characters', () => {
    const failed = failedRequest(request, 'Model m (sha256 abc) could not be loaded: protobuf parsing failed');
    expect(failed).toMatchObject({ status: 'failed', statusReason: { text: 'Model m (sha256 abc) could not be loaded: protobuf parsing failed' }, meta: { source: AI_SOURCE } });
    expect(failed.output).toEqual([{ type: { text: 'error' }, valueString: 'Model m (sha256 abc) could not be loaded: protobuf parsing failed' }]);
    expect(failedRequest(request, 'x'.repeat(5000)).statusReason?.text).toHaveLength(1000);
  });

  it('knows an open request from a finished one', () => {
    expect(isOpenRequest(request)).toBe(true);
    expect(isOpenRequest({ ...request, status: 'completed' })).toBe(false);
    expect(isOpenRequest({ ...request, status: 'failed' })).toBe(false);
  });
});
