import { Injectable } from '@nestjs/common';
import type { Medication } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import { batchOf, type DrugRef } from './drug';
import { InventoryRepository } from './inventory.repository';
import type { StockBatch } from './stock';
import { TxWrites } from './tx-writes';

const codesOf = (m: Medication) => (m.code?.coding ?? []).map((c) => c.code).filter((c): c is string => !!c);

export interface LoadedBatch {
  batch: StockBatch;
  medication: Medication;
}

/**
 * The stocked batches of a drug as this transaction sees them. Reading goes through the write
 * path's current-version lookup, which takes the per-resource advisory lock (sorted, so two
 * transactions lock batches in the same order): a dispense holds its batches until it commits, and
 * a racing dispense reads their stock only after it.
 */
@Injectable()
export class BatchLoader {
  constructor(
    private readonly writer: ResourceWriteService,
    private readonly inventory: InventoryRepository,
    private readonly txWrites: TxWrites,
  ) {}

  async load(tx: Tx, drug: DrugRef, onlyNamedBatch: boolean): Promise<{ batches: LoadedBatch[]; label: string }> {
    let codes = drug.codes;
    let label = drug.label;
    const ids = new Set<string>();
    if (drug.medicationId) {
      ids.add(drug.medicationId);
      // The named batch's code, without locking it yet (all batches are then locked in sorted order):
      // from this transaction's own write (already locked), else from the table.
      if (!onlyNamedBatch) {
        codes = this.txWrites.ids(tx, 'Medication').includes(drug.medicationId)
          ? codesOf((await this.medication(tx, drug.medicationId)) ?? { resourceType: 'Medication' })
          : await this.inventory.codesOf(tx, drug.medicationId);
      }
    }
    if (!onlyNamedBatch && codes.length) {
      for (const id of await this.inventory.idsByCode(tx, codes)) ids.add(id);
      // Batches this transaction wrote but has not flushed yet are not in the table.
      for (const id of this.txWrites.ids(tx, 'Medication')) ids.add(id);
    }
    const sorted = [...ids].sort();
    await this.writer.prefetch(tx, sorted.map((id) => ({ resourceType: 'Medication', id })));
    const batches: LoadedBatch[] = [];
    for (const id of sorted) {
      const medication = await this.medication(tx, id);
      if (id === drug.medicationId && medication) label = medication.code?.text ?? medication.code?.coding?.find((c) => c.display)?.display ?? label;
      if (!medication || (id !== drug.medicationId && !codesOf(medication).some((c) => codes.includes(c)))) continue;
      const batch = batchOf(medication);
      if (batch) batches.push({ batch, medication });
    }
    return { batches, label };
  }

  async medication(tx: Tx, id: string): Promise<Medication | undefined> {
    const current = await this.writer.currentOf(tx, 'Medication', id);
    return current && !current.deleted && current.json ? (JSON.parse(current.json) as Medication) : undefined;
  }
}
