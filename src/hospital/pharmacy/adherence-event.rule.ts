import { Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { ADHERENCE_EVENT_TYPES, AdherenceService, eventView } from './adherence.service';
import { TxWrites } from './tx-writes';

/**
 * An adherence event updates its prescription's adherence rate (and, when it moves to another
 * prescription or stops counting, the previous one's). The row in `adherence_tracking` is the
 * event's own projection.
 */
@Injectable()
export class AdherenceEventRule implements WriteRule {
  readonly name = 'pharmacy-adherence';
  readonly resourceTypes = ADHERENCE_EVENT_TYPES;

  constructor(
    private readonly adherence: AdherenceService,
    private readonly txWrites: TxWrites,
  ) {}

  async beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<void> {
    const now = eventView(resource);
    const before = eventView(ctx.previous);
    const id = resource.id as string;
    if (before.prescriptionId && before.taken !== undefined && before.prescriptionId !== now.prescriptionId) {
      await this.adherence.recompute(tx, before.prescriptionId, id, undefined);
    }
    if (now.prescriptionId && (now.taken !== undefined || before.taken !== undefined)) {
      await this.adherence.recompute(tx, now.prescriptionId, id, now.taken === undefined ? undefined : { taken: now.taken, at: now.at });
    }
    if (now.prescriptionId || before.prescriptionId) this.txWrites.note(tx, resource.resourceType, id);
  }

  /** A deleted event no longer counts towards its prescription's adherence rate. */
  async beforeDelete(tx: Tx, previous: Resource): Promise<void> {
    const before = eventView(previous);
    if (before.prescriptionId && before.taken !== undefined) await this.adherence.recompute(tx, before.prescriptionId, previous.id as string, undefined);
  }
}
