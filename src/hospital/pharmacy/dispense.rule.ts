import { Injectable } from '@nestjs/common';
import type { Extension, MedicationDispense, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { OperationOutcomeError, badRequest } from '../../fhir/operation-outcome';
import { localRefId } from '../../fhir/projection/mappers/mapper-utils';
import { stockOnHand, withStock } from '../../fhir/projection/mappers/medication.mapper';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { ResourceWriteService, prepare } from '../../fhir/write/resource-write.service';
import { BatchLoader } from './batch-loader';
import { drugOf, type DrugRef } from './drug';
import { allocate, itemLabel, type Allocation } from './stock';
import { stockRefusal } from './stock-refusal';

/** Which batches a completed dispense took its units from (server-owned, one extension per batch). */
export const DISPENSED_FROM_URL = 'https://fhir-ai-server.dev/StructureDefinition/dispensed-from';

/** Statuses that undo a completed dispense: its units go back to their batches. */
const UNDOING = ['entered-in-error', 'cancelled'];

export function allocationsOf(md: MedicationDispense | undefined): Allocation[] {
  return (md?.extension ?? [])
    .filter((e) => e.url === DISPENSED_FROM_URL)
    .map((e) => ({
      id: localRefId(e.extension?.find((x) => x.url === 'batch')?.valueReference, 'Medication') ?? '',
      quantity: e.extension?.find((x) => x.url === 'quantity')?.valueInteger ?? 0,
    }))
    .filter((a) => a.id && a.quantity > 0);
}

export function withAllocations(md: MedicationDispense, allocations: Allocation[]): MedicationDispense {
  const others = (md.extension ?? []).filter((e) => e.url !== DISPENSED_FROM_URL);
  const mine: Extension[] = allocations.map((a) => ({
    url: DISPENSED_FROM_URL,
    extension: [
      { url: 'batch', valueReference: { reference: `Medication/${a.id}` } },
      { url: 'quantity', valueInteger: a.quantity },
    ],
  }));
  const { extension: _old, ...rest } = md;
  const extension = [...others, ...mine];
  return (extension.length ? { ...rest, extension } : rest) as MedicationDispense;
}

/**
 * Dispensing takes stock: when a MedicationDispense becomes `completed`, its quantity (else 1) is
 * taken from the named batch (medicationReference), or from the drug's batches first-expiry-first-
 * out (medicationCodeableConcept), refusing (409, or 422 when only expired units are left) what the
 * stock cannot serve at `whenHandedOver` (else now). Each batch's Medication gets a new version with
 * its new stock, written under the batch's lock, so of two dispenses racing for the last units the
 * second reads the first's result and is refused. The batches used are recorded on the dispense;
 * marking it entered-in-error or cancelled later puts the units back. A drug with no stocked batch
 * is not tracked. Once dispensed (completed, or holding recorded units), a dispense's medication and
 * quantity are fixed: a change is refused (422) — cancel it (or mark it entered-in-error) and enter a
 * new dispense instead, so that stock and `dispensed-from` always agree.
 */
@Injectable()
export class DispenseRule implements WriteRule {
  readonly name = 'pharmacy-dispense';
  readonly resourceTypes = ['MedicationDispense'];

  constructor(
    private readonly batches: BatchLoader,
    private readonly writer: ResourceWriteService,
  ) {}

  async beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<Resource> {
    const md = resource as MedicationDispense;
    const previous = ctx.previous as MedicationDispense | undefined;
    // Units a dispense has taken stay recorded on it until it is undone (cancelled / entered-in-error),
    // whatever status it passes through meanwhile (completed → on-hold → completed takes nothing again).
    const taken = allocationsOf(previous);
    const undoing = UNDOING.includes(md.status);
    if (previous && !undoing && (previous.status === 'completed' || taken.length)) refuseChangedSupply(previous, md);
    if (md.status === 'completed') return withAllocations(md, taken.length || previous?.status === 'completed' ? taken : await this.take(tx, md));
    if (taken.length && undoing) await this.giveBack(tx, taken);
    return withAllocations(md, undoing ? [] : taken);
  }

  /**
   * A dispense that is deleted gives back the units it holds, as one marked entered-in-error does:
   * whatever its status (on-hold after completed still holds them), as its dispensed-from records say.
   */
  async beforeDelete(tx: Tx, previous: Resource): Promise<void> {
    const taken = allocationsOf(previous as MedicationDispense);
    if (taken.length) await this.giveBack(tx, taken);
  }

  private async take(tx: Tx, md: MedicationDispense): Promise<Allocation[]> {
    const drug = drugOf(md);
    if (!drug) return [];
    const quantity = md.quantity?.value ?? 1;
    if (!Number.isInteger(quantity) || quantity <= 0) {
      throw badRequest('A dispense of stocked medication needs a positive whole quantity.value', ['MedicationDispense.quantity.value']);
    }
    const { batches, label } = await this.batches.load(tx, drug, !!drug.medicationId);
    if (!batches.length) return [];
    const handedOver = Date.parse(md.whenHandedOver ?? '');
    const at = new Date(Number.isNaN(handedOver) ? Date.now() : handedOver);
    const verdict = allocate(batches.map((b) => b.batch), quantity, at, itemLabel(label, batches.map((b) => b.batch)));
    if (!verdict.ok) throw stockRefusal(verdict, 'Dispense', 'MedicationDispense.medication');
    for (const a of verdict.allocations) {
      const { medication, batch } = batches.find((b) => b.batch.id === a.id)!;
      await this.writer.updateInTx(tx, prepare(withStock(medication, batch.stock - a.quantity), 'Medication', a.id), {});
    }
    return verdict.allocations;
  }

  private async giveBack(tx: Tx, allocations: Allocation[]): Promise<void> {
    await this.writer.prefetch(tx, allocations.map((a) => ({ resourceType: 'Medication', id: a.id })));
    for (const a of [...allocations].sort((x, y) => x.id.localeCompare(y.id))) {
      const medication = await this.batches.medication(tx, a.id);
      const stock = medication && stockOnHand(medication);
      if (!medication || stock === undefined) continue; // the batch is gone or no longer tracked
      await this.writer.updateInTx(tx, prepare(withStock(medication, stock + a.quantity), 'Medication', a.id), {});
    }
  }
}

/** The quantity a dispense hands over (else 1) and what it names as its drug, as compared for a change. */
function supplyOf(md: MedicationDispense): { drug: DrugRef | undefined; quantity: number } {
  return { drug: drugOf(md), quantity: md.quantity?.value ?? 1 };
}

const drugKey = (d: DrugRef | undefined) => (d ? `${d.medicationId ?? ''}|${[...d.codes].sort().join(',')}` : '');

/** A dispensed dispense cannot change what or how much it handed over: its units are already taken. */
function refuseChangedSupply(previous: MedicationDispense, next: MedicationDispense): void {
  const before = supplyOf(previous);
  const after = supplyOf(next);
  const changed = [
    ...(drugKey(before.drug) !== drugKey(after.drug) ? [`medication (was ${before.drug?.label ?? 'none'})`] : []),
    ...(before.quantity !== after.quantity ? [`quantity (was ${before.quantity})`] : []),
  ];
  if (!changed.length) return;
  throw OperationOutcomeError.of(
    422,
    'business-rule',
    `MedicationDispense/${previous.id} has been dispensed: its ${changed.join(' and ')} cannot change, as its units are already taken from stock; cancel it (status cancelled or entered-in-error, which gives the units back) and enter a new dispense`,
    [...(changed.some((c) => c.startsWith('medication')) ? ['MedicationDispense.medication'] : []), ...(before.quantity !== after.quantity ? ['MedicationDispense.quantity'] : [])],
  );
}
