import type { Medication } from '@medplum/fhirtypes';
import { REORDER_THRESHOLD_URL, STOCK_ON_HAND_URL } from '../../fhir/projection/mappers/medication.mapper';
import { closedReorderTask, openReorderTask, reorderTaskId } from './reorder-task';

const med = (stock: number): Medication => ({
  resourceType: 'Medication',
  id: 'm1',
  extension: [
    { url: STOCK_ON_HAND_URL, valueInteger: stock },
    { url: REORDER_THRESHOLD_URL, valueInteger: 5 },
  ],
  code: { text: 'Amoxicillin' },
  batch: { lotNumber: 'L1' },
});
const now = new Date('2026-11-27T10:00:00Z');

describe('reorder Task', () => {
  it('has one id per batch that fits a FHIR id', () => {
    expect(reorderTaskId('m1')).toBe('reorder-m1');
    expect(reorderTaskId('x'.repeat(64))).toHaveLength(64);
  });

  it('asks the pharmacist to reorder, urgently when nothing is left', () => {
    expect(openReorderTask(med(3), now)).toEqual({
      resourceType: 'Task',
      id: 'reorder-m1',
      status: 'requested',
      intent: 'order',
      priority: 'routine',
      code: { coding: [{ system: 'urn:fhir-ai-server:pharmacy-task', code: 'reorder', display: 'Reorder medication stock' }] },
      description: 'Reorder Amoxicillin lot L1: 3 units on hand, below the reorder threshold of 5',
      focus: { reference: 'Medication/m1' },
      authoredOn: now.toISOString(),
      lastModified: now.toISOString(),
    });
    expect(openReorderTask(med(0), now).priority).toBe('urgent');
  });

  it('is completed with a note once restocked', () => {
    const closed = closedReorderTask({ ...openReorderTask(med(3), now), meta: { versionId: '1' } }, med(40), now);
    expect(closed).toMatchObject({ status: 'completed', note: [{ text: 'Restocked: 40 units on hand' }] });
    expect(closed.meta).toBeUndefined();
  });
});
