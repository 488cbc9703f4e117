import type { AiJob } from './ai-plugin';
import { coalescePerPatient } from './job-coalescing';

const job = (task: AiJob['task'], resourceType: string, id: string, patientId: string | null = 'p1'): AiJob => ({ task, resourceType, resourceId: id, versionId: 1, patientId });
const perPatient = (task: string) => task === 'triage';

describe('coalescePerPatient', () => {
  it("keeps one triage per patient of a transaction's events: the last event's", () => {
    const events = [[job('triage', 'Observation', 'o1')], [job('triage', 'Observation', 'o2'), job('vital-sign-anomaly', 'Observation', 'o2')], [job('triage', 'Observation', 'o3')], []];
    expect(coalescePerPatient(events, perPatient)).toEqual([[], [job('vital-sign-anomaly', 'Observation', 'o2')], [job('triage', 'Observation', 'o3')], []]);
  });

  it('keeps one per patient, each patient apart, and leaves jobs without a patient and other tasks alone', () => {
    const events = [[job('triage', 'Observation', 'a1', 'pa')], [job('triage', 'Observation', 'b1', 'pb')], [job('triage', 'Observation', 'a2', 'pa')], [job('sentiment', 'Communication', 'c1')], [job('triage', 'Observation', 'x', null)]];
    expect(coalescePerPatient(events, perPatient)).toEqual([[], [job('triage', 'Observation', 'b1', 'pb')], [job('triage', 'Observation', 'a2', 'pa')], [job('sentiment', 'Communication', 'c1')], [job('triage', 'Observation', 'x', null)]]);
  });

  it('keeps every request (a Task to answer) and drops the vital signs beside it', () => {
    const events = [[job('triage', 'Task', 't1')], [job('triage', 'Observation', 'o1')], [job('triage', 'Task', 't2')], [job('triage', 'Observation', 'o2')]];
    expect(coalescePerPatient(events, perPatient)).toEqual([[job('triage', 'Task', 't1')], [], [job('triage', 'Task', 't2')], []]);
  });
});
