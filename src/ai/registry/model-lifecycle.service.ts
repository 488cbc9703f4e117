import { Injectable, Optional } from '@nestjs/common';
import type { Tx } from '../../database/database.service';
import { conflict, notFound } from '../../fhir/operation-outcome';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import { deviceOf } from '../model-device';
import { ModelCatalog } from './model-catalog.repository';
import { lockTask, recordTransition } from './model-transitions';
import { RuleRegistry } from '../rules/rule-registry.service';
import type { ModelRow, ModelStatus } from './model-view';
import { writeModelDevice } from '../model-device-writes';

export interface TransitionResult {
  model: ModelRow;
  /** promote: the version it retired; rollback: the version active again. */
  other?: string;
}

/**
 * Moves model versions through their lifecycle: candidate → shadow, candidate or shadow → active
 * (the previous active version of the same task and condition retired in the same transaction),
 * rollback (the active version retired, the one it replaced active again), and retire (a candidate
 * or shadow version retired; the active one is retired only by a rollback). Each change of
 * ai_models, its transition record and the Devices' status are one transaction. Workers see the
 * change when their registry cache expires (5 s).
 */
@Injectable()
export class ModelLifecycleService {
  constructor(
    private readonly writer: ResourceWriteService,
    private readonly catalog: ModelCatalog,
    @Optional() private readonly rules?: RuleRegistry,
  ) {}

  shadow(id: string, actor: string, reason?: string): Promise<TransitionResult> {
    return this.change(id, actor, async (tx, model) => {
      if (model.status !== 'candidate') throw conflict(`${id} is ${model.status}: only a candidate version can go into shadow`);
      await this.setStatus(tx, model, 'shadow');
      await recordTransition(tx, { modelId: id, action: 'shadow', from: model.status, to: 'shadow', actor, reason });
      return {};
    });
  }

  promote(id: string, actor: string, reason?: string): Promise<TransitionResult> {
    return this.change(id, actor, async (tx, model) => {
      if (model.status === 'active') throw conflict(`${id} is already the active version`);
      if (model.status === 'retired') throw conflict(`${id} is retired: a retired version becomes active again only by rolling back the version that replaced it (or register it as a new version)`);
      const [current] = await tx.query<ModelRow>(
        `SELECT id FROM ai_models WHERE status = 'active' AND task = ? AND coalesce(condition_code, '') = coalesce(?::text, '') FOR UPDATE`,
        [model.task, model.condition_code],
      );
      const previous = current ? await this.catalog.get(current.id, tx, true) : undefined;
      if (previous) {
        await this.setStatus(tx, previous, 'retired');
        await recordTransition(tx, { modelId: previous.id, action: 'promote', from: 'active', to: 'retired', other: id, actor, reason });
      }
      await this.setStatus(tx, model, 'active', previous?.id ?? null);
      await recordTransition(tx, { modelId: id, action: 'promote', from: model.status, to: 'active', other: previous?.id, actor, reason });
      return { other: previous?.id };
    });
  }

  rollback(id: string, actor: string, reason?: string): Promise<TransitionResult> {
    return this.change(id, actor, async (tx, model) => {
      if (model.status !== 'active') throw conflict(`${id} is ${model.status}: only the active version can be rolled back`);
      const previousId = model.previous_active_id;
      const previous = previousId ? await this.catalog.get(previousId, tx, true) : undefined;
      if (!previous) throw conflict(`No version was active before ${id}: there is nothing to roll back to`);
      if (previous.status !== 'retired') throw conflict(`${previous.id}, the version active before ${id}, is ${previous.status} now: it cannot be made active again by a rollback`);
      await this.setStatus(tx, model, 'retired');
      await recordTransition(tx, { modelId: id, action: 'rollback', from: 'active', to: 'retired', other: previous.id, actor, reason });
      await this.setStatus(tx, previous, 'active');
      await recordTransition(tx, { modelId: previous.id, action: 'rollback', from: 'retired', to: 'active', other: id, actor, reason });
      return { other: previous.id };
    });
  }

  /**
   * A candidate or shadow version → retired: a shadow stops running beside the active version
   * (in every worker once its registry cache expires, 5 s, as for promote and shadow). The active
   * version is retired by a rollback, which says which version takes its place; a retired one is
   * already.
   */
  retire(id: string, actor: string, reason?: string): Promise<TransitionResult> {
    return this.change(id, actor, async (tx, model) => {
      if (model.status === 'active') throw conflict(`${id} is the active version: it is retired by rolling back (POST /api/models/${id}/rollback), which makes the version it replaced active again`);
      if (model.status !== 'candidate' && model.status !== 'shadow') throw conflict(`${id} is ${model.status}: only a candidate or shadow version can be retired`);
      await this.setStatus(tx, model, 'retired');
      await recordTransition(tx, { modelId: id, action: 'retire', from: model.status, to: 'retired', actor, reason });
      return {};
    });
  }

  /** One transaction: the task and condition locked, the version re-read under lock, `fn`, the version read back. */
  private async change(id: string, actor: string, fn: (tx: Tx, model: ModelRow) => Promise<{ other?: string }>): Promise<TransitionResult> {
    const found = await this.catalog.get(id);
    if (!found) throw notFound(`No model version ${id}`);
    try {
      const result = await this.writer.inTransaction({ actor }, async (tx) => {
        await lockTask(tx, found.task, found.condition_code);
        const model = (await this.catalog.get(id, tx, true)) as ModelRow;
        const { other } = await fn(tx, model);
        return { model: (await this.catalog.get(id, tx)) as ModelRow, ...(other ? { other } : {}) };
      });
      // A rule's next output in this process names the new version at once (other processes: within the cache's 5 s).
      if (found.kind === 'rule') this.rules?.forget();
      return result;
    } catch (e) {
      // The lock makes this unlikely; the unique index (one active per task and condition) is the guarantee.
      if ((e as { code?: string }).code === '23505') throw conflict(`Another version of ${found.task} became active at the same time; try again`);
      throw e;
    }
  }

  /** The row's status (and, on promotion, the version it replaces) and its Device, in the transaction. */
  private async setStatus(tx: Tx, model: ModelRow, status: ModelStatus, previousActive?: string | null): Promise<void> {
    if (previousActive !== undefined) await tx.query('UPDATE ai_models SET status = ?, previous_active_id = ? WHERE id = ?', [status, previousActive, model.id]);
    else await tx.query('UPDATE ai_models SET status = ? WHERE id = ?', [status, model.id]);
    await writeModelDevice(this.writer, tx, deviceOf(model.id, model.manifest, model.sha256, status));
  }
}
