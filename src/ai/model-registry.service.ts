import { Inject, Injectable } from '@nestjs/common';
import type { Device } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { LOGGER } from '../core/core.module';
import { DatabaseService } from '../database/database.service';
import { ResourceWriteService } from '../fhir/write/resource-write.service';
import { loadBuiltInModels, type AiTask, type BuiltInModel, type ModelManifest } from './model-manifest';

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
  private conditions?: { at: number; codes: Promise<Set<string>> };

  constructor(
    private readonly db: DatabaseService,
    private readonly writer: ResourceWriteService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Registers the built-in models that are not yet registered; idempotent and safe in several processes at once. */
  async seedBuiltIns(models: BuiltInModel[] = loadBuiltInModels()): Promise<void> {
    for (const m of models) {
      const id = modelId(m.manifest);
      const accuracy = typeof m.manifest.metrics?.accuracy === 'number' ? Math.round(m.manifest.metrics.accuracy * 100) / 100 : null;
      await this.db.transaction({ actor: 'system:model-registry' }, async (tx) => {
        await tx.query(
          `INSERT INTO ai_models (id, name, version, accuracy, last_trained, federated, task, condition_code, sha256, model_file, manifest, status)
           VALUES (?, ?, ?, ?, NULL, false, ?, ?, ?, ?, ?::jsonb, 'candidate') ON CONFLICT DO NOTHING`,
          [id, m.manifest.name, m.manifest.version, accuracy, m.manifest.task, conditionKey(m.manifest), m.sha256, m.bytes, JSON.stringify(m.manifest)],
        );
        // The first version of a task/condition becomes active; later ones wait for a promotion.
        await tx.query(
          `UPDATE ai_models SET status = 'active' WHERE id = ? AND status = 'candidate'
             AND NOT EXISTS (SELECT 1 FROM ai_models a WHERE a.status = 'active' AND a.task = ? AND coalesce(a.condition_code, '') = coalesce(?::text, ''))`,
          [id, m.manifest.task, conditionKey(m.manifest)],
        );
      });
      await this.writer.update({ actor: 'system:model-registry' }, 'Device', id, deviceOf(id, m.manifest, m.sha256));
    }
    // What was cached before the registration is stale now.
    this.cache.clear();
    this.conditions = undefined;
    this.logger.info({ models: models.map((m) => modelId(m.manifest)) }, 'built-in models registered');
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

/** The registry id of a version, also its Device id: `<name>-<version>`. */
export function modelId(manifest: ModelManifest): string {
  return `${manifest.name}-${manifest.version}`.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64);
}

export function conditionKey(manifest: ModelManifest): string | null {
  return manifest.condition ? `${manifest.condition.system}|${manifest.condition.code}` : null;
}

/** The FHIR view of a model version. Pure. */
export function deviceOf(id: string, manifest: ModelManifest, sha256: string): Device {
  const metrics = Object.entries(manifest.metrics ?? {}).filter(([, v]) => typeof v === 'number') as Array<[string, number]>;
  return {
    resourceType: 'Device',
    id,
    status: 'active',
    identifier: [{ system: 'urn:fhir-ai-server:model-sha256', value: sha256 }],
    deviceName: [{ name: manifest.title, type: 'model-name' }],
    modelNumber: manifest.name,
    type: { coding: [{ system: 'urn:fhir-ai-server:ai-task', code: manifest.task }], text: 'AI model (ONNX)' },
    version: [{ value: manifest.version }],
    property: metrics.map(([name, value]) => ({ type: { text: name }, valueQuantity: [{ value }] })),
  };
}
