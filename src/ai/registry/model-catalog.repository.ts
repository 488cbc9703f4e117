import { Injectable } from '@nestjs/common';
import { DatabaseService, type Tx } from '../../database/database.service';
import { MODEL_COLUMNS, type ModelRow, type TransitionRow } from './model-view';

/** Reads of the model registry (ai_models and its transitions); the file's bytes only when asked for. */
@Injectable()
export class ModelCatalog {
  constructor(private readonly db: DatabaseService) {}

  list(filter: { task?: string; status?: string; name?: string; kind?: string }): Promise<ModelRow[]> {
    const where: string[] = ['sha256 IS NOT NULL'];
    const params: unknown[] = [];
    for (const [column, value] of Object.entries(filter)) {
      if (value === undefined) continue;
      where.push(`${column} = ?`);
      params.push(value);
    }
    return this.db.query<ModelRow>(`SELECT ${MODEL_COLUMNS} FROM ai_models WHERE ${where.join(' AND ')} ORDER BY task, condition_code NULLS FIRST, registered_at, id`, params);
  }

  async get(id: string, tx?: Tx, forUpdate = false): Promise<ModelRow | undefined> {
    const sql = `SELECT ${MODEL_COLUMNS} FROM ai_models WHERE id = ? AND sha256 IS NOT NULL${forUpdate ? ' FOR UPDATE' : ''}`;
    const [row] = await (tx ?? this.db).query<ModelRow>(sql, [id]);
    return row;
  }

  history(id: string): Promise<TransitionRow[]> {
    return this.db.query<TransitionRow>(`SELECT action, from_status, to_status, other_model_id, actor, reason, at FROM ai_model_transitions WHERE model_id = ? ORDER BY id`, [id]);
  }

  async file(id: string): Promise<{ bytes: Buffer; sha256: string } | undefined> {
    const [row] = await this.db.query<{ model_file: Buffer; sha256: string }>(`SELECT model_file, sha256 FROM ai_models WHERE id = ? AND model_file IS NOT NULL`, [id]);
    return row && { bytes: row.model_file, sha256: row.sha256 };
  }

  /** Whether a version with this name and version, or this id, is registered already. */
  async exists(name: string, version: string, id: string): Promise<boolean> {
    // Names are compared without case: "CAD-test" and "cad-test" are one model to a reader of the registry.
    const rows = await this.db.query('SELECT 1 FROM ai_models WHERE (lower(name) = lower(?) AND version = ?) OR lower(id) = lower(?) LIMIT 1', [name, version, id]);
    return rows.length > 0;
  }

  /** Number of registered versions (what a refused upload must leave unchanged). */
  async count(): Promise<number> {
    const [row] = await this.db.query<{ n: string }>('SELECT count(*) AS n FROM ai_models');
    return Number(row.n);
  }
}
