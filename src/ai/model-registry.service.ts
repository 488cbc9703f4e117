import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '../core/core.module';
import { DatabaseService } from '../database/database.service';
import { ResourceWriteService } from '../fhir/write/resource-write.service';
import { lockTask, recordTransition } from './registry/model-transitions';
import { loadBuiltInModels, type AiTask, type BuiltInModel, type ModelManifest } from './model-manifest';
import { conditionKey, deviceOf, modelId } from './model-device';
import { writeModelDevice } from './model-device-writes';

export { MODEL_LIFECYCLE_SYSTEM, MODEL_PROPERTY_SYSTEM, conditionKey, deviceOf, modelId } from './model-device';

/** A registered model version, ready to run. */
export interface RegisteredModel {
  id: string;
  manifest: ModelManifest;
  sha256: string;
  bytes: Buffer;
}

const CACHE_MS = 5_000;

/**
 * The model versions in ai_models. At start-up the built-in models (models/<name>/) are
 * registered once, the first version of each task/condition made active, and each described by a
 * Device resource. Workers ask for the active version of a task (and condition); the answer is
 * cached for a few seconds, so a promotion reaches every worker within seconds without a restart.
 */
@Injectable()
export class ModelRegistry {
  private cache = new Map<string, { at: number; model: Promise<RegisteredModel | undefined> }>();
  private shadowCache = new Map<string, { at: number; models: Promise<RegisteredModel[]> }>();
  private conditions?: { at: number; codes: Promise<Set<string>> };
  private markSeeded: () => void = () => undefined;
  /** Resolves once this process has registered the built-in models: the worker takes jobs only then (workers/processor-start.ts). */
  readonly seeded = new Promise<void>((resolve) => (this.markSeeded = resolve));

  constructor(
    private readonly db: DatabaseService,
    private readonly writer: ResourceWriteService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Registers the built-in models that are not yet registered; idempotent and safe in several
   * processes at once. It never undoes a lifecycle change: only a built-in that is still a
   * candidate (never promoted, retired or rolled back) and whose task/condition has no active
   * version is made active, and each Device is written from the row's actual status.
   */
  async seedBuiltIns(models: BuiltInModel[] = loadBuiltInModels()): Promise<void> {
    const actor = 'system:model-registry';
    for (const m of models) {
      const id = modelId(m.manifest);
      const condition = conditionKey(m.manifest);
      const accuracy = typeof m.manifest.metrics?.accuracy === 'number' ? Math.round(m.manifest.metrics.accuracy * 100) / 100 : null;
      const refusal = await this.writer.inTransaction({ actor }, async (tx) => {
        await lockTask(tx, m.manifest.task, condition);
        const inserted = await tx.query(
          `INSERT INTO ai_models (id, name, version, accuracy, last_trained, federated, task, condition_code, sha256, model_file, manifest, status)
           VALUES (?, ?, ?, ?, NULL, false, ?, ?, ?, ?, ?::jsonb, 'candidate') ON CONFLICT DO NOTHING RETURNING id`,
          [id, m.manifest.name, m.manifest.version, accuracy, m.manifest.task, condition, m.sha256, m.bytes, JSON.stringify(m.manifest)],
        );
        if (inserted.length) {
          // A Device a client stored at this id (before this built-in shipped) is not the registry's to take over.
          const current = await this.writer.currentOf(tx, 'Device', id);
          if (current) {
            await tx.query('DELETE FROM ai_models WHERE id = ?', [id]);
            return `Device/${id} already exists (${current.deleted ? 'deleted, its history kept' : `version ${current.versionId}`}) and is not a model version's Device`;
          }
          await recordTransition(tx, { modelId: id, action: 'seed', from: null, to: 'candidate', actor });
        }
        // The first version of a task/condition becomes active; later ones wait for a promotion.
        const activated = await tx.query(
          `UPDATE ai_models SET status = 'active' WHERE id = ? AND status = 'candidate' AND sha256 = ?
             AND NOT EXISTS (SELECT 1 FROM ai_model_transitions t WHERE t.model_id = ? AND t.action <> 'seed')
             AND NOT EXISTS (SELECT 1 FROM ai_models a WHERE a.status = 'active' AND a.task = ? AND coalesce(a.condition_code, '') = coalesce(?::text, ''))
           RETURNING id`,
          [id, m.sha256, id, m.manifest.task, condition],
        );
        if (activated.length) await recordTransition(tx, { modelId: id, action: 'seed', from: 'candidate', to: 'active', actor });
        // The row may be a version uploaded under the same name and version: describe what is stored.
        const [row] = await tx.query<{ status: string; manifest: ModelManifest; sha256: string }>('SELECT status, manifest, sha256 FROM ai_models WHERE id = ?', [id]);
        await writeModelDevice(this.writer, tx, deviceOf(id, row.manifest, row.sha256, row.status));
        return undefined;
      });
      if (refusal) this.logger.error({ model: id }, `built-in model ${id} was not registered: ${refusal}; move that Device to another id, then restart`);
    }
    // What was cached before the registration is stale now.
    this.cache.clear();
    this.shadowCache.clear();
    this.conditions = undefined;
    this.logger.info({ models: models.map((m) => modelId(m.manifest)) }, 'built-in models registered');
    this.markSeeded();
  }

  /** The active version for a task (and, for diagnosis models, a condition code `system|code`). */
  active(task: AiTask, condition?: string): Promise<RegisteredModel | undefined> {
    const key = `${task}|${condition ?? ''}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.model;
    const model = this.load(task, condition);
    this.cache.set(key, { at: Date.now(), model });
    return model;
  }

  /** The shadow versions of a task (and condition): run beside the active one on live jobs, never shown. Cached as active() is. */
  shadows(task: AiTask, condition?: string): Promise<RegisteredModel[]> {
    const key = `${task}|${condition ?? ''}`;
    const hit = this.shadowCache.get(key);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.models;
    const models = this.db
      .query<{ id: string; manifest: ModelManifest; sha256: string; model_file: Buffer }>(
        `SELECT id, manifest, sha256, model_file FROM ai_models WHERE status = 'shadow' AND task = ? AND coalesce(condition_code, '') = ? ORDER BY id`,
        [task, condition ?? ''],
      )
      .then((rows) => rows.map((row) => ({ id: row.id, manifest: row.manifest, sha256: row.sha256, bytes: row.model_file })));
    models.catch(() => this.shadowCache.delete(key)); // a failed read is not cached
    this.shadowCache.set(key, { at: Date.now(), models });
    return models;
  }

  /** Condition codes (`system|code`) that have an active diagnosis model; cached as active() is (asked on every Condition event). */
  activeConditions(): Promise<Set<string>> {
    if (this.conditions && Date.now() - this.conditions.at < CACHE_MS) return this.conditions.codes;
    const codes = this.loadConditions();
    this.conditions = { at: Date.now(), codes };
    return codes;
  }

  private async loadConditions(): Promise<Set<string>> {
    const rows = await this.db.query<{ condition_code: string }>(
      `SELECT condition_code FROM ai_models WHERE status = 'active' AND task = 'diagnosis-confidence' AND condition_code IS NOT NULL`,
    );
    return new Set(rows.map((r) => r.condition_code));
  }

  private async load(task: AiTask, condition?: string): Promise<RegisteredModel | undefined> {
    const [row] = await this.db.query<{ id: string; manifest: ModelManifest; sha256: string; model_file: Buffer }>(
      `SELECT id, manifest, sha256, model_file FROM ai_models WHERE status = 'active' AND task = ? AND coalesce(condition_code, '') = ?`,
      [task, condition ?? ''],
    );
    return row && { id: row.id, manifest: row.manifest, sha256: row.sha256, bytes: row.model_file };
  }
}
