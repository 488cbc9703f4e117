import { Injectable } from '@nestjs/common';
import type { Tx } from '../../database/database.service';
import { DatabaseService } from '../../database/database.service';

export interface InventoryRow {
  id: string;
  medication: string | null;
  medication_code: string | null;
  lot_number: string | null;
  stock_level: number | null;
  reorder_threshold: number | null;
  expiry_date: string | null;
  reorder_alert: boolean | null;
}

/** SQL over `inventory` (the Medication projection). */
@Injectable()
export class InventoryRepository {
  constructor(private readonly db: DatabaseService) {}

  /** Ids of the batches of these drug codes (stocked or not). */
  async idsByCode(tx: Tx, codes: string[]): Promise<string[]> {
    if (!codes.length) return [];
    const rows = await tx.query<{ id: string }>('SELECT id FROM inventory WHERE medication_code = ANY(?::text[]) ORDER BY id', [codes]);
    return rows.map((r) => r.id);
  }

  /** The drug code of a batch, as projected ([] when it has none or is unknown). */
  async codesOf(tx: Tx, id: string): Promise<string[]> {
    const rows = await tx.query<{ medication_code: string | null }>('SELECT medication_code FROM inventory WHERE id = ?', [id]);
    return rows.map((r) => r.medication_code).filter((c): c is string => !!c);
  }

  /** Stocked batches, optionally of one code or only those to reorder, by medication and expiry. */
  async list(filter: { code?: string; reorder?: boolean; limit: number }): Promise<InventoryRow[]> {
    const where = ['stock_level IS NOT NULL'];
    const params: unknown[] = [];
    if (filter.code) {
      where.push('medication_code = ?');
      params.push(filter.code);
    }
    if (filter.reorder) where.push('reorder_alert');
    params.push(filter.limit);
    return this.db.query<InventoryRow>(
      `SELECT id, medication, medication_code, lot_number, stock_level, reorder_threshold, to_char(expiry_date, 'YYYY-MM-DD') AS expiry_date, reorder_alert
       FROM inventory WHERE ${where.join(' AND ')} ORDER BY medication_code NULLS LAST, expiry_date NULLS LAST, id LIMIT ?`,
      params,
    );
  }
}
