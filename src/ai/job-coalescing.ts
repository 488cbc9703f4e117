import type { AiJob } from './ai-plugin';

/**
 * The AI jobs of one write transaction's events (jobsByEvent[i]: the jobs of the i-th event), with
 * the jobs of a per-patient task (`perPatient`, e.g. triage) coalesced: a job reads the patient's
 * latest inputs when it runs, so the five vital signs of one Bundle need one triage, not five.
 * Of a task's jobs for one patient, the last event's is kept, unless some are requests (a Task
 * trigger, e.g. `$triage`): each request is kept, since each must be answered, and the others are
 * dropped. Jobs of other tasks are kept as they are. Pure.
 */
export function coalescePerPatient(jobsByEvent: readonly (readonly AiJob[])[], perPatient: (task: string) => boolean): AiJob[][] {
  const keyOf = (j: AiJob) => (j.patientId && perPatient(j.task) ? `${j.task}\n${j.patientId}` : undefined);
  const last = new Map<string, number>();
  const requested = new Set<string>();
  jobsByEvent.forEach((jobs, i) => {
    for (const j of jobs) {
      const key = keyOf(j);
      if (!key) continue;
      last.set(key, i);
      if (j.resourceType === 'Task') requested.add(key);
    }
  });
  return jobsByEvent.map((jobs, i) =>
    jobs.filter((j) => {
      const key = keyOf(j);
      if (!key) return true;
      return requested.has(key) ? j.resourceType === 'Task' : last.get(key) === i;
    }),
  );
}
