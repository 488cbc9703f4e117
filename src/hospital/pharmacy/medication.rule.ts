import { Injectable } from '@nestjs/common';
import type { Medication, Resource, Task } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { badRequest } from '../../fhir/operation-outcome';
import { REORDER_THRESHOLD_URL, STOCK_ON_HAND_URL, needsReorder } from '../../fhir/projection/mappers/medication.mapper';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { ResourceWriteService, prepare } from '../../fhir/write/resource-write.service';
import { TxWrites } from './tx-writes';
import { OPEN_TASK_STATUSES, closedReorderTask, openReorderTask, reorderTaskId } from './reorder-task';

/**
 * A stocked batch (Medication) keeps whole, non-negative stock and threshold values, and when its
 * stock falls below the threshold (→ `inventory.reorder_alert`) the pharmacist gets a reorder Task
 * (focus: the Medication); when it is restocked to the threshold or above, the open Task is
 * completed. Runs on every write of the Medication, including the dispenses' decrements.
 */
@Injectable()
export class MedicationStockRule implements WriteRule {
  readonly name = 'pharmacy-medication-stock';
  readonly resourceTypes = ['Medication'];

  constructor(
    private readonly writer: ResourceWriteService,
    private readonly txWrites: TxWrites,
  ) {}

  async beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<void> {
    const m = resource as Medication;
    for (const url of [STOCK_ON_HAND_URL, REORDER_THRESHOLD_URL]) {
      const found = m.extension?.filter((e) => e.url === url) ?? [];
      const name = url.slice(url.lastIndexOf('/') + 1);
      if (found.length > 1) throw badRequest(`A Medication has at most one ${name} extension`, ['Medication.extension']);
      const v = found[0]?.valueInteger;
      if (found.length && (v === undefined || v < 0)) {
        throw badRequest(`The ${name} extension needs a valueInteger of 0 or more`, ['Medication.extension']);
      }
    }
    this.txWrites.note(tx, 'Medication', m.id as string);
    const below = needsReorder(m);
    const wasBelow = !!ctx.previous && needsReorder(ctx.previous as Medication);
    if (below === wasBelow) return;
    const now = new Date();
    const id = reorderTaskId(m.id as string);
    const current = await this.writer.currentOf(tx, 'Task', id);
    const task = current && !current.deleted && current.json ? (JSON.parse(current.json) as Task) : undefined;
    const open = !!task && OPEN_TASK_STATUSES.includes(task.status);
    if (below && !open) await this.writer.updateInTx(tx, prepare(openReorderTask(m, now), 'Task', id), {});
    if (!below && task && open) await this.writer.updateInTx(tx, prepare(closedReorderTask(task, m, now), 'Task', id), {});
  }
}
