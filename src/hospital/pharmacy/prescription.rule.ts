import { Injectable } from '@nestjs/common';
import type { MedicationRequest, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { badRequest } from '../../fhir/operation-outcome';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { canonicalJson } from '../../fhir/canonical-json';
import { AdherenceService } from './adherence.service';
import { BatchLoader } from './batch-loader';
import { drugOf } from './drug';
import { allocate, itemLabel } from './stock';
import { stockRefusal } from './stock-refusal';

const OPEN = ['active', 'draft'];
const SUPPLIED_INTENTS = ['order', 'original-order', 'reflex-order', 'filler-order', 'instance-order'];

/**
 * A prescription (MedicationRequest) the pharmacy cannot serve is refused: for a drug it stocks
 * (at least one Medication batch with a stock extension has its code, or the referenced Medication
 * is stocked), the units asked for (`dispenseRequest.quantity`, else 1) must be on hand in batches
 * that have not expired on the day of dispensing (today, or `dispenseRequest.validityPeriod.start`
 * when later). Checked when an order becomes active or draft, or changes its drug or quantity; a
 * drug the pharmacy does not stock is not checked (it is supplied elsewhere). Also keeps the
 * server-owned adherence-rate extension (see AdherenceService).
 */
@Injectable()
export class PrescriptionRule implements WriteRule {
  readonly name = 'pharmacy-prescription';
  readonly resourceTypes = ['MedicationRequest'];

  constructor(
    private readonly batches: BatchLoader,
    private readonly adherence: AdherenceService,
  ) {}

  async beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<Resource> {
    const mr = resource as MedicationRequest;
    const previous = ctx.previous as MedicationRequest | undefined;
    if (this.needsStockCheck(mr, previous)) await this.checkStock(tx, mr);
    return this.adherence.onPrescriptionWrite(tx, mr, !!previous);
  }

  private needsStockCheck(mr: MedicationRequest, previous: MedicationRequest | undefined): boolean {
    if (!OPEN.includes(mr.status) || !SUPPLIED_INTENTS.includes(mr.intent)) return false;
    if (!previous || !OPEN.includes(previous.status) || !SUPPLIED_INTENTS.includes(previous.intent)) return true;
    const supply = (r: MedicationRequest) =>
      canonicalJson({ c: r.medicationCodeableConcept ?? null, r: r.medicationReference ?? null, q: r.dispenseRequest?.quantity?.value ?? null });
    return supply(mr) !== supply(previous);
  }

  private async checkStock(tx: Tx, mr: MedicationRequest): Promise<void> {
    const drug = drugOf(mr);
    if (!drug) return;
    const requested = mr.dispenseRequest?.quantity?.value ?? 1;
    if (!(requested > 0)) throw badRequest('dispenseRequest.quantity.value must be positive', ['MedicationRequest.dispenseRequest.quantity.value']);
    const { batches, label } = await this.batches.load(tx, drug, false);
    if (!batches.length) return;
    const validFrom = Date.parse(mr.dispenseRequest?.validityPeriod?.start ?? '');
    const at = new Date(Number.isNaN(validFrom) ? Date.now() : Math.max(Date.now(), validFrom));
    const verdict = allocate(batches.map((b) => b.batch), requested, at, itemLabel(label, batches.map((b) => b.batch)));
    if (!verdict.ok) throw stockRefusal(verdict, 'Prescription', 'MedicationRequest.medication');
  }
}
