import type { Medication, Task } from '@medplum/fhirtypes';
import { conceptLabel } from '../../fhir/projection/mappers/mapper-utils';
import { reorderThreshold, stockOnHand } from '../../fhir/projection/mappers/medication.mapper';

export const PHARMACY_TASK_SYSTEM = 'urn:fhir-ai-server:pharmacy-task';
export const OPEN_TASK_STATUSES = ['draft', 'requested', 'received', 'accepted', 'ready', 'in-progress', 'on-hold'];

/**
 * The pharmacist's reorder Task of a batch: one per Medication, with an id derived from it, so
 * that an alert raised twice (or by two writers, which the Medication's lock serialises anyway)
 * reopens the same Task instead of adding another; its history keeps every alert.
 */
export function reorderTaskId(medicationId: string): string {
  const id = `reorder-${medicationId}`;
  return id.length <= 64 ? id : `reorder-${medicationId.slice(-56)}`;
}

const label = (m: Medication) => `${conceptLabel(m.code) ?? `Medication/${m.id}`}${m.batch?.lotNumber ? ` lot ${m.batch.lotNumber}` : ''}`;

/** Pure: the open reorder Task for a batch below its threshold. */
export function openReorderTask(m: Medication, now: Date): Task {
  return {
    resourceType: 'Task',
    id: reorderTaskId(m.id as string),
    status: 'requested',
    intent: 'order',
    priority: stockOnHand(m) === 0 ? 'urgent' : 'routine',
    code: { coding: [{ system: PHARMACY_TASK_SYSTEM, code: 'reorder', display: 'Reorder medication stock' }] },
    description: `Reorder ${label(m)}: ${stockOnHand(m)} units on hand, below the reorder threshold of ${reorderThreshold(m)}`,
    focus: { reference: `Medication/${m.id}` },
    authoredOn: now.toISOString(),
    lastModified: now.toISOString(),
  };
}

/** Pure: the Task closed once the batch is back at or above its threshold. */
export function closedReorderTask(task: Task, m: Medication, now: Date): Task {
  const { meta: _meta, ...rest } = task;
  return {
    ...rest,
    status: 'completed',
    lastModified: now.toISOString(),
    note: [...(task.note ?? []), { time: now.toISOString(), text: `Restocked: ${stockOnHand(m) ?? 'untracked'} units on hand` }],
  };
}
