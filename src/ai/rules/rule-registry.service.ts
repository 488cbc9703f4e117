import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '../../core/core.module';
import { DatabaseService } from '../../database/database.service';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import { deviceOf, modelId } from '../model-device';
import { lockTask, recordTransition } from '../registry/model-transitions';
import { RULE_DEFINITIONS, builtInRule, implementedRule, ruleManifest, type RuleDefinition, type RuleManifest, type RuleTask } from './rule-catalog';
import { writeModelDevice } from '../model-device-writes';

/** The version of a rule that serves a task now: its registry id (also its Device id) and its definition in code. */
export interface ActiveRule {
  id: string;
  /** `Device/<id>`: what every output of this version names. */
  device: string;
  definition: RuleDefinition;
  manifest: RuleManifest;
  /** Whether it is a registered row (false: the built-in fallback before seeding, not counted). */
  registered?: boolean;
}

const CACHE_MS = 5_000;

/** The registry id of a rule version (`<name>-<version>`, as for models). */
export function ruleId(def: RuleDefinition): string {
  return modelId({ name: def.name, version: def.version } as never);
}

export function activeRuleOf(def: RuleDefinition): ActiveRule {
  const id = ruleId(def);
  return { id, device: `Device/${id}`, definition: def, manifest: ruleManifest(def) };
}

/**
 * Rule versions in ai_models (kind `rule`, no file): the hospital modules' AI behaviours. At
 * start-up each rule's built-in version is registered (idempotent, safe in several processes, never
 * undoing a lifecycle change) and made active when its task has no active version, with its Device.
 * The active version of a task is asked on the write path and cached a few seconds, as active
 * models are; a lifecycle change in this process clears the cache at once. The rule plugins
 * (PluginCore) get their versions here, as the model plugins get theirs from ModelRegistry.
 */
@Injectable()
export class RuleRegistry implements OnApplicationBootstrap {
  private cache = new Map<RuleTask, { at: number; rule: Promise<ActiveRule> }>();
  private shadowCache = new Map<RuleTask, { at: number; rules: Promise<ActiveRule[]> }>();

  constructor(
    private readonly db: DatabaseService,
    private readonly writer: ResourceWriteService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.seedBuiltIns();
  }

  async seedBuiltIns(definitions: readonly RuleDefinition[] = RULE_DEFINITIONS.filter((d) => d.builtIn)): Promise<void> {
    const actor = 'system:rule-registry';
    for (const def of definitions) {
      const id = ruleId(def);
      const manifest = ruleManifest(def);
      const sha256 = manifest.definition.sha256;
      await this.writer.inTransaction({ actor }, async (tx) => {
        await lockTask(tx, def.task, null);
        const inserted = await tx.query(
          `INSERT INTO ai_models (id, name, version, accuracy, last_trained, federated, task, condition_code, sha256, model_file, manifest, status, kind)
           VALUES (?, ?, ?, NULL, NULL, false, ?, NULL, ?, NULL, ?::jsonb, 'candidate', 'rule') ON CONFLICT DO NOTHING RETURNING id`,
          [id, def.name, def.version, def.task, sha256, JSON.stringify(manifest)],
        );
        if (inserted.length) await recordTransition(tx, { modelId: id, action: 'seed', from: null, to: 'candidate', actor });
        const activated = await tx.query(
          `UPDATE ai_models SET status = 'active' WHERE id = ? AND status = 'candidate' AND sha256 = ?
             AND NOT EXISTS (SELECT 1 FROM ai_model_transitions t WHERE t.model_id = ? AND t.action <> 'seed')
             AND NOT EXISTS (SELECT 1 FROM ai_models a WHERE a.status = 'active' AND a.task = ? AND a.condition_code IS NULL)
           RETURNING id`,
          [id, sha256, id, def.task],
        );
        if (activated.length) await recordTransition(tx, { modelId: id, action: 'seed', from: 'candidate', to: 'active', actor });
        const [row] = await tx.query<{ status: string; manifest: RuleManifest; sha256: string }>('SELECT status, manifest, sha256 FROM ai_models WHERE id = ?', [id]);
        if (inserted.length || activated.length) await writeModelDevice(this.writer, tx, deviceOf(id, row.manifest as never, row.sha256, row.status));
      });
    }
    this.cache.clear();
    this.logger.info({ rules: definitions.map(ruleId) }, 'built-in rules registered');
  }

  /**
   * The active version of a rule task. Its implementation is the code's (rule-catalog.ts); a row
   * naming a version the code no longer implements, or no active row (before seeding), falls back
   * to the built-in version, so that a write is never left without a rule.
   */
  active(task: RuleTask): Promise<ActiveRule> {
    const hit = this.cache.get(task);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.rule;
    const rule = this.load(task);
    rule.catch(() => this.cache.delete(task));
    this.cache.set(task, { at: Date.now(), rule });
    return rule;
  }

  /** The shadow versions of a rule task that the code implements; cached as active() is. */
  shadows(task: RuleTask): Promise<ActiveRule[]> {
    const hit = this.shadowCache.get(task);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.rules;
    const rules = this.db
      .query<{ name: string; version: string }>(`SELECT name, version FROM ai_models WHERE status = 'shadow' AND task = ? AND kind = 'rule' ORDER BY id`, [task])
      .then((rows) => rows.map((r) => implementedRule(r.name, r.version)).filter((d): d is RuleDefinition => !!d).map((d) => ({ ...activeRuleOf(d), registered: true })));
    rules.catch(() => this.shadowCache.delete(task));
    this.shadowCache.set(task, { at: Date.now(), rules });
    return rules;
  }

  /** Forgets the cached versions (after a lifecycle change in this process). */
  forget(): void {
    this.cache.clear();
    this.shadowCache.clear();
  }

  private async load(task: RuleTask): Promise<ActiveRule> {
    const [row] = await this.db.query<{ name: string; version: string }>(`SELECT name, version FROM ai_models WHERE status = 'active' AND task = ? AND kind = 'rule'`, [task]);
    const def = row ? implementedRule(row.name, row.version) : undefined;
    if (row && !def) this.logger.warn({ task, rule: `${row.name} ${row.version}` }, 'the active rule version is not implemented by this code; using the built-in one');
    return def ? { ...activeRuleOf(def), registered: true } : activeRuleOf(builtInRule(task));
  }
}
