import type { Task } from '@medplum/fhirtypes';
import { AI_SOURCE } from './ai-plugin';

/** A request Task answered: completed, pointing at its result (`Type/id`), marked as the AI's write. Pure. */
export function completedRequest(task: Task, output: string, outputType: string): Task {
  return {
    ...task,
    meta: { ...(task.meta ?? {}), source: AI_SOURCE },
    status: 'completed',
    output: [{ type: { text: outputType }, valueReference: { reference: output } }],
  };
}
