import type { Extension, Medication } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import { compact, conceptLabel, firstCoding, fromDate, num, str, toDate, truncate } from './mapper-utils';

/**
 * R4 has no stock resource (InventoryReport/InventoryItem are R5), so a stocked batch is a
 * Medication (code, batch.lotNumber, batch.expirationDate) carrying two extensions: the units on
 * hand and the threshold below which it should be reordered. One Medication per batch, as R4's
 * `batch` is 0..1; a Medication without the stock extension is not tracked.
 */
export const STOCK_ON_HAND_URL = 'https://fhir-ai-server.dev/StructureDefinition/stock-on-hand';
export const REORDER_THRESHOLD_URL = 'https://fhir-ai-server.dev/StructureDefinition/reorder-threshold';

function integerExtension(extensions: Extension[] | undefined, url: string): number | undefined {
  const v = extensions?.find((e) => e.url === url)?.valueInteger;
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

/** Units on hand (undefined: the Medication is not a stocked item). */
export const stockOnHand = (m: Medication): number | undefined => integerExtension(m.extension, STOCK_ON_HAND_URL);
export const reorderThreshold = (m: Medication): number | undefined => integerExtension(m.extension, REORDER_THRESHOLD_URL);

/** Below its threshold (strictly): the item should be reordered. */
export function needsReorder(m: Medication): boolean {
  const stock = stockOnHand(m);
  const threshold = reorderThreshold(m);
  return stock !== undefined && threshold !== undefined && stock < threshold;
}

/** The Medication with its units on hand set to `stock`. */
export function withStock(m: Medication, stock: number): Medication {
  const others = (m.extension ?? []).filter((e) => e.url !== STOCK_ON_HAND_URL);
  return { ...m, extension: [{ url: STOCK_ON_HAND_URL, valueInteger: stock }, ...others] };
}

/** Medication → inventory (one row per Medication: a batch, stocked or not). */
export const medicationMapper: ResourceMapper<Medication> = {
  resourceType: 'Medication',
  tables: ['inventory'],

  toRows(m: Medication): ProjectionRow[] {
    const stock = stockOnHand(m);
    return [
      {
        table: 'inventory',
        values: {
          id: m.id,
          medication: truncate(conceptLabel(m.code), 255),
          medication_code: truncate(firstCoding(m.code)?.code, 64),
          lot_number: truncate(m.batch?.lotNumber, 100),
          stock_level: stock ?? null,
          reorder_threshold: reorderThreshold(m) ?? null,
          // A dateTime expiry keeps its calendar date: the batch may be used through that day.
          expiry_date: toDate(m.batch?.expirationDate?.slice(0, 10)),
          reorder_alert: needsReorder(m),
        },
      },
    ];
  },

  toResource(row: Record<string, unknown>): Medication {
    const code = str(row.medication_code);
    const name = str(row.medication);
    const stock = num(row.stock_level);
    const threshold = num(row.reorder_threshold);
    const extension = [
      ...(stock !== undefined ? [{ url: STOCK_ON_HAND_URL, valueInteger: stock }] : []),
      ...(threshold !== undefined ? [{ url: REORDER_THRESHOLD_URL, valueInteger: threshold }] : []),
    ];
    const expiry = fromDate(row.expiry_date);
    const lot = str(row.lot_number);
    return compact<Medication>({
      resourceType: 'Medication',
      id: String(row.id),
      extension: extension.length ? extension : undefined,
      code: code || name ? compact({ coding: code ? [{ code }] : undefined, text: name }) : undefined,
      batch: lot || expiry ? compact({ lotNumber: lot, expirationDate: expiry }) : undefined,
    });
  },
};
