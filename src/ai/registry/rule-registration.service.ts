import { Injectable } from '@nestjs/common';
import { OperationOutcomeError, badRequest, conflict, outcome } from '../../fhir/operation-outcome';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import { deviceOf } from '../model-device';
import { ruleManifest } from '../rules/rule-catalog';
import { checkRuleManifest } from '../rules/rule-manifest.checks';
import { ruleId } from '../rules/rule-registry.service';
import { ModelCatalog } from './model-catalog.repository';
import { recordTransition } from './model-transitions';
import type { ModelRow } from './model-view';
import { requireFreeDeviceId, writeModelDevice } from '../model-device-writes';

/**
 * Registers a version of a rule (ai_models, kind `rule`) as a candidate: the code must implement
 * that name and version (src/ai/rules/rule-catalog.ts); what the manifest states about its task,
 * parameters and sha256 must be the code's. From there it moves through the same lifecycle as a
 * model (a shadow version runs beside the active one on the same inputs and is counted, never shown).
 */
@Injectable()
export class RuleRegistrationService {
  constructor(
    private readonly writer: ResourceWriteService,
    private readonly catalog: ModelCatalog,
  ) {}

  async register(raw: unknown, hasFile: boolean, actor: string): Promise<ModelRow> {
    if (hasFile) throw badRequest('A rule version has no file: send only the field "manifest" (kind "rule")', ['model']);
    const checked = checkRuleManifest(raw);
    if (!checked.definition) {
      throw new OperationOutcomeError(
        checked.status,
        outcome(checked.problems.map((p) => ({ severity: 'error', code: checked.status === 422 ? 'not-supported' : 'invalid', diagnostics: p.message, expression: [`manifest.${p.path}`] }))),
      );
    }
    const def = checked.definition;
    const manifest = ruleManifest(def);
    const id = ruleId(def);
    if (await this.catalog.exists(def.name, def.version, id)) throw duplicate(id, def.name, def.version);
    try {
      await this.writer.inTransaction({ actor }, async (tx) => {
        await tx.query(
          `INSERT INTO ai_models (id, name, version, accuracy, last_trained, federated, task, condition_code, sha256, model_file, manifest, status, kind)
           VALUES (?, ?, ?, NULL, NULL, false, ?, NULL, ?, NULL, ?::jsonb, 'candidate', 'rule')`,
          [id, def.name, def.version, def.task, manifest.definition.sha256, JSON.stringify(manifest)],
        );
        requireFreeDeviceId(id, await this.writer.currentOf(tx, 'Device', id));
        await recordTransition(tx, { modelId: id, action: 'register', from: null, to: 'candidate', actor });
        await writeModelDevice(this.writer, tx, deviceOf(id, manifest as never, manifest.definition.sha256, 'candidate'));
      });
    } catch (e) {
      if ((e as { code?: string }).code === '23505') throw duplicate(id, def.name, def.version);
      throw e;
    }
    return (await this.catalog.get(id)) as ModelRow;
  }
}

function duplicate(id: string, name: string, version: string): OperationOutcomeError {
  return conflict(`${name} ${version} is already registered (id ${id}): a version is registered once`, 'duplicate');
}
