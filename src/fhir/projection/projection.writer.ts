import { Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { KeyRing, PGP_OPTIONS } from '../../crypto/key-ring';
import type { Tx } from '../../database/database.service';
import { conflict } from '../operation-outcome';
import { MAPPERS } from './mappers';
import { PROJECTION_TABLES, type MapperContext, type ProjectionRow, type ProjectionTable } from './projection';

/**
 * Keeps the seed's tables in step with the resources: after each write, the rows a resource's
 * mapper produces are upserted and the rows it no longer produces are removed. Encrypted columns
 * are encrypted here, in SQL, with the key as a bind parameter.
 */
@Injectable()
export class ProjectionWriter {
  private readonly ctx: MapperContext;

  constructor(private readonly keys: KeyRing) {
    this.ctx = { blindIndex: (v) => keys.blindIndex(v) };
  }

  /** Whether this type has a relational face. */
  projects(resourceType: string): boolean {
    return MAPPERS.has(resourceType);
  }

  async project(tx: Tx, resource: Resource, meta: { versionId: number; lastUpdated: Date; isNew: boolean }): Promise<void> {
    const mapper = MAPPERS.get(resource.resourceType);
    if (!mapper) return;
    const rows = mapper.toRows(resource, this.ctx);
    for (const tableName of mapper.tables) {
      const table = tableOf(tableName);
      const row = rows.find((r) => r.table === tableName);
      if (!meta.isNew) await this.removeOthers(tx, table, resource.id as string, row);
      if (row) await this.upsert(tx, table, row, meta);
    }
  }

  /** The resource was deleted: its rows go. */
  async remove(tx: Tx, resourceType: string, id: string): Promise<void> {
    const mapper = MAPPERS.get(resourceType);
    if (!mapper) return;
    for (const tableName of mapper.tables) await this.removeOthers(tx, tableOf(tableName), id, undefined);
  }

  /** Deletes the resource's rows in `table` other than `keep`. */
  private async removeOthers(tx: Tx, table: ProjectionTable, resourceId: string, keep: ProjectionRow | undefined): Promise<void> {
    const params: unknown[] = [resourceId];
    let sql = `DELETE FROM ${table.name} WHERE ${table.owner} = ?`;
    if (keep) {
      sql += ` AND (${table.key.join(', ')}) IS DISTINCT FROM (${table.key.map(() => '?').join(', ')})`;
      params.push(...table.key.map((k) => keep.values[k]));
    }
    await tx.query(sql, params);
  }

  private async upsert(tx: Tx, table: ProjectionTable, row: ProjectionRow, meta: { versionId: number; lastUpdated: Date }): Promise<void> {
    const values: Record<string, unknown> = { ...row.values };
    if (table.versioned) {
      values.version_id = meta.versionId;
      values.last_updated = meta.lastUpdated;
    }
    const columns: string[] = [];
    const exprs: string[] = [];
    const params: unknown[] = [];
    const encrypted = new Set(table.encrypted ?? []);
    for (const [col, value] of Object.entries(values)) {
      if (value === undefined) continue;
      columns.push(col);
      if (encrypted.has(col)) {
        if (value === null) {
          exprs.push('NULL');
        } else {
          exprs.push(`pgp_sym_encrypt(?, ?, '${PGP_OPTIONS}')`);
          params.push(typeof value === 'string' ? value : JSON.stringify(value), this.keys.dataKey());
        }
      } else {
        exprs.push('?');
        params.push(isJsonValue(value) ? JSON.stringify(value) : value);
      }
    }
    if (encrypted.size) {
      columns.push('key_id');
      exprs.push('?');
      params.push(this.keys.activeKeyId);
    }
    const updates = columns.filter((c) => !table.key.includes(c)).map((c) => `${c} = EXCLUDED.${c}`);
    let sql = `INSERT INTO ${table.name} (${columns.join(', ')}) VALUES (${exprs.join(', ')})
      ON CONFLICT (${table.key.join(', ')}) DO `;
    if (table.uniqueAcrossResources) {
      // Only the resource that owns the key may (re)write it.
      sql += `UPDATE SET ${updates.join(', ')} WHERE ${table.name}.${table.owner} = EXCLUDED.${table.owner} RETURNING 1 AS ok`;
      const result = await tx.query(sql, params);
      if (!result.length) throw conflict(table.uniqueAcrossResources.message(row.values), 'duplicate');
      return;
    }
    sql += updates.length ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING';
    await tx.query(sql, params);
  }
}

function tableOf(name: string): ProjectionTable {
  const table = PROJECTION_TABLES[name];
  if (!table) throw new Error(`No projection table definition for ${name}`);
  return table;
}

/** Plain objects and arrays go to jsonb columns as JSON text; Buffers and Dates stay as they are. */
function isJsonValue(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Buffer.isBuffer(v) && !(v instanceof Date);
}
