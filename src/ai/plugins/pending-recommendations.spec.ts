import type { Task } from '@medplum/fhirtypes';
import { AI_SOURCE } from '../ai-plugin';
import { RECOMMENDATION_CODE } from '../recommendation-rules';
import { isPendingAiRecommendation } from './pending-recommendations';

const task = (over: Partial<Task> = {}): Task => ({
  resourceType: 'Task',
  meta: { source: AI_SOURCE },
  status: 'requested',
  intent: 'proposal',
  code: { coding: [RECOMMENDATION_CODE] },
  focus: { reference: 'Condition/c1' },
  ...over,
});

describe('isPendingAiRecommendation (what a newer prediction may supersede)', () => {
  it("is the AI's recommendation still awaiting a clinician", () => {
    expect(isPendingAiRecommendation(task())).toBe(true);
  });

  it('is still pending once a clinician has noted it (that version no longer carries the AI\'s meta.source)', () => {
    expect(isPendingAiRecommendation(task({ meta: {}, note: [{ text: 'Will discuss at rounds' }] }))).toBe(true);
  });

  it('is not a decided one or another kind of Task', () => {
    for (const status of ['accepted', 'rejected', 'completed', 'cancelled'] as const) expect(isPendingAiRecommendation(task({ status }))).toBe(false);
    expect(isPendingAiRecommendation(task({ code: { coding: [{ system: 'urn:fhir-ai-server:ai-task', code: 'triage' }] } }))).toBe(false);
  });
});
