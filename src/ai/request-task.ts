import type { Task } from '@medplum/fhirtypes';
import { AI_SOURCE } from './ai-plugin';

/** Task statuses of a request the AI has not answered yet (what `$triage` writes is `requested`). */
const OPEN = new Set<Task['status']>(['draft', 'requested', 'received', 'accepted', 'ready', 'in-progress', 'on-hold']);

/** Whether a Task is a request still waiting for its answer. Pure. */
export function isOpenRequest(task: Task): boolean {
  return OPEN.has(task.status);
}

/** A request Task answered: completed, pointing at its result (`Type/id`), marked as the AI's write. Pure. */
export function completedRequest(task: Task, output: string, outputType: string): Task {
  return {
    ...task,
    meta: { ...(task.meta ?? {}), source: AI_SOURCE },
    status: 'completed',
    output: [{ type: { text: outputType }, valueReference: { reference: output } }],
  };
}

/**
 * A request Task whose job failed for good (attempts exhausted, or input refused): failed, with
 * the reason in statusReason and as an output, so that a client polling the Task sees why. Pure.
 */
export function failedRequest(task: Task, reason: string): Task {
  const text = reason.length > 1000 ? `${reason.slice(0, 999)}…` : reason;
  return {
    ...task,
    meta: { ...(task.meta ?? {}), source: AI_SOURCE },
    status: 'failed',
    statusReason: { text },
    output: [{ type: { text: 'error' }, valueString: text }],
  };
}
