import { Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { KeyRing, PGP_OPTIONS } from '../../crypto/key-ring';
import type { Tx } from '../../database/database.service';
import { uniqueChunks } from '../../database/unique-chunks';
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

  /**
   * Projects several resources: removes the rows that updated resources no longer map to, then
   * upserts the new rows with one statement per table (and column set). Returns whether it wrote
   * anything foreign keys may object to (rows with foreign keys, or deletions others may reference).
   */
  async projectMany(tx: Tx, items: Array<{ resource: Resource; meta: ProjectionMeta }>): Promise<boolean> {
    let constrained = false;
    const groups = new Map<string, { table: ProjectionTable; rows: Array<{ row: ProjectionRow; meta: ProjectionMeta }> }>();
    for (const { resource, meta } of items) {
      const mapper = MAPPERS.get(resource.resourceType);
      if (!mapper) continue;
      const rows = mapper.toRows(resource, this.ctx);
      for (const tableName of mapper.tables) {
        const table = tableOf(tableName);
        const row = rows.find((r) => r.table === tableName);
        if (!meta.isNew) {
          await this.removeOthers(tx, table, resource.id as string, row);
          constrained = true;
        }
        if (!row) continue;
        constrained ||= !!table.foreignKeys;
        if (table.uniqueAcrossResources) {
          await this.upsert(tx, table, [{ row, meta }]);
          continue;
        }
        const signature = `${tableName}|${Object.keys(row.values).filter((k) => row.values[k] !== undefined).sort().join(',')}`;
        const group = groups.get(signature) ?? { table, rows: [] };
        group.rows.push({ row, meta });
        groups.set(signature, group);
      }
    }
    for (const { table, rows } of groups.values()) {
      for (const chunk of uniqueChunks(rows, (r) => table.key.map((k) => String(r.row.values[k])).join('\u0000'))) {
        await this.upsert(tx, table, chunk);
      }
    }
    return constrained;
  }

  /** The resource was deleted: its rows go. Returns whether it had any (others may reference them). */
  async remove(tx: Tx, resourceType: string, id: string): Promise<boolean> {
    const mapper = MAPPERS.get(resourceType);
    if (!mapper) return false;
    for (const tableName of mapper.tables) await this.removeOthers(tx, tableOf(tableName), id, undefined);
    return true;
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

  /** Upserts rows that share one column set into `table` with one statement. */
  private async upsert(tx: Tx, table: ProjectionTable, rows: Array<{ row: ProjectionRow; meta: ProjectionMeta }>): Promise<void> {
    const encrypted = new Set(table.encrypted ?? []);
    const models = new Set(table.modelColumns ?? []);
    const first = this.columnsOf(table, rows[0].row, rows[0].meta);
    const columns = Object.keys(first);
    const params: unknown[] = [];
    const tuples = rows.map(({ row, meta }) => {
      const values = this.columnsOf(table, row, meta);
      const exprs = columns.map((col) => {
        const value = values[col];
        if (encrypted.has(col)) {
          if (value === null) return 'NULL';
          params.push(typeof value === 'string' ? value : JSON.stringify(value), this.keys.dataKey());
          return `pgp_sym_encrypt(?, ?, '${PGP_OPTIONS}')`;
        }
        if (models.has(col) && value !== null) {
          // Only one of our registered models; another server's model Device (pulled) is no model here.
          params.push(value);
          return '(SELECT m.id FROM ai_models m WHERE m.id = ?)';
        }
        params.push(isJsonValue(value) ? JSON.stringify(value) : value);
        return '?';
      });
      return `(${exprs.join(', ')})`;
    });
    const updates = columns.filter((c) => !table.key.includes(c)).map((c) => `${c} = EXCLUDED.${c}`);
    let sql = `INSERT INTO ${table.name} (${columns.join(', ')}) VALUES ${tuples.join(', ')}
      ON CONFLICT (${table.key.join(', ')}) DO `;
    if (table.uniqueAcrossResources) {
      // Only the resource that owns the key may (re)write it.
      sql += `UPDATE SET ${updates.join(', ')} WHERE ${table.name}.${table.owner} = EXCLUDED.${table.owner} RETURNING 1 AS ok`;
      const result = await tx.query(sql, params);
      if (result.length < rows.length) throw conflict(table.uniqueAcrossResources.message(rows[0].row.values), 'duplicate');
      return;
    }
    sql += updates.length ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING';
    await tx.query(sql, params);
  }

  /** The row's columns, with version columns and the key id added as the table needs them. */
  private columnsOf(table: ProjectionTable, row: ProjectionRow, meta: ProjectionMeta): Record<string, unknown> {
    const values: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row.values)) if (v !== undefined) values[k] = v;
    if (table.versioned) {
      values.version_id = meta.versionId;
      values.last_updated = meta.lastUpdated;
    }
    if (table.encrypted?.length) values.key_id = this.keys.activeKeyId;
    return values;
  }
}

export interface ProjectionMeta {
  versionId: number;
  lastUpdated: Date;
  isNew: boolean;
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
