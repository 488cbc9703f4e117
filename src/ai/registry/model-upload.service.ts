import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../core/tokens';
import { OperationOutcomeError, badRequest, conflict, outcome, type IssueCode } from '../../fhir/operation-outcome';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import type { ModelManifest } from '../model-manifest';
import { conditionKey, deviceOf, modelId } from '../model-device';
import { contractProblems, referenceRows, smokeProblems } from '../task-contracts';
import { checkManifest, type Problem } from './manifest.checks';
import { ModelCatalog } from './model-catalog.repository';
import { signatureProblems } from './model-upload.checks';
import { recordTransition } from './model-transitions';
import type { ModelRow } from './model-view';
import { OnnxInspector } from './onnx-inspector';
import { externalDataTensors } from './onnx-external-data';
import { requireFreeDeviceId, writeModelDevice } from '../model-device-writes';
import { ResourceStore } from '../../fhir/store/resource-store.repository';

export interface ModelUpload {
  file?: Buffer;
  manifest?: string;
}

/** A refused upload: one issue per problem, each naming its manifest path. */
function refused(status: number, code: IssueCode, problems: Problem[], prefix = 'manifest'): OperationOutcomeError {
  return new OperationOutcomeError(
    status,
    outcome(problems.map((p) => ({ severity: 'error', code, diagnostics: p.message, expression: [p.path === prefix ? prefix : `${prefix}.${p.path}`] }))),
  );
}

/**
 * Registers a new model version, as a candidate, after every check has passed; a failing check
 * answers a 4xx naming what failed and stores nothing. In order: the form (400), the size (413),
 * the manifest's shape and its task's contract (400), the sha256 the manifest may state (400),
 * (name, version) not yet registered and no Device at its id (409), the file self-contained (no external tensor data) and
 * opening in onnxruntime, its graph's inputs
 * and outputs against the manifest, and a smoke run on the task's reference inputs (422).
 */
@Injectable()
export class ModelUploadService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly writer: ResourceWriteService,
    private readonly catalog: ModelCatalog,
    private readonly inspector: OnnxInspector,
    private readonly store: ResourceStore,
  ) {}

  async register(upload: ModelUpload, actor: string): Promise<ModelRow> {
    if (!upload.file) throw badRequest('The form has no file field "model" (the .onnx file)', ['model']);
    if (upload.manifest === undefined) throw badRequest('The form has no field "manifest" (the manifest as JSON)', ['manifest']);
    if (upload.file.length > this.config.modelMaxBytes) throw tooLarge(this.config.modelMaxBytes);
    if (upload.file.length === 0) throw badRequest('The file "model" is empty', ['model']);

    let raw: unknown;
    try {
      raw = JSON.parse(upload.manifest);
    } catch (e) {
      throw badRequest(`The field "manifest" is not valid JSON: ${(e as Error).message}`, ['manifest']);
    }
    const checked = checkManifest(raw);
    if (!checked.manifest) throw refused(400, 'invalid', checked.problems);
    const contract = contractProblems(checked.manifest);
    if (contract.length) throw refused(400, 'invalid', contract);

    const sha256 = createHash('sha256').update(upload.file).digest('hex');
    const stated = checked.manifest.model?.sha256;
    if (stated && stated !== sha256) throw badRequest(`The file's sha256 is ${sha256}, the manifest says ${stated}: not the file the manifest describes`, ['manifest.model.sha256']);
    const manifest: ModelManifest = { ...checked.manifest, model: { ...(checked.manifest.model ?? {}), file: checked.manifest.model?.file ?? 'model.onnx', sha256, bytes: upload.file.length } as ModelManifest['model'] };
    const id = modelId(manifest);
    await this.assertNew(manifest, id);

    await this.checkModel(manifest, upload.file);

    try {
      await this.writer.inTransaction({ actor }, async (tx) => {
        const accuracy = typeof manifest.metrics?.accuracy === 'number' ? Math.round(manifest.metrics.accuracy * 100) / 100 : null;
        await tx.query(
          `INSERT INTO ai_models (id, name, version, accuracy, last_trained, federated, task, condition_code, sha256, model_file, manifest, status)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, 'candidate')`,
          [id, manifest.name, manifest.version, accuracy, manifest.lastTrained ?? null, manifest.federated ?? false, manifest.task, conditionKey(manifest), sha256, upload.file, JSON.stringify(manifest)],
        );
        requireFreeDeviceId(id, await this.writer.currentOf(tx, 'Device', id));
        await recordTransition(tx, { modelId: id, action: 'register', from: null, to: 'candidate', actor });
        await writeModelDevice(this.writer, tx, deviceOf(id, manifest, sha256, 'candidate'));
      });
    } catch (e) {
      if ((e as { code?: string }).code === '23505') throw duplicate(manifest, id);
      throw e;
    }
    return (await this.catalog.get(id)) as ModelRow;
  }

  private async assertNew(manifest: ModelManifest, id: string): Promise<void> {
    if (await this.catalog.exists(manifest.name, manifest.version, id)) throw duplicate(manifest, id);
    requireFreeDeviceId(id, await this.store.readCurrent('Device', id));
  }

  /** Opens the file in onnxruntime, compares its graph with the manifest, and runs the smoke inputs. */
  private async checkModel(manifest: ModelManifest, bytes: Buffer): Promise<void> {
    let external: string[];
    try {
      external = externalDataTensors(bytes);
    } catch (e) {
      throw OperationOutcomeError.of(422, 'structure', `The file "model" is not an ONNX model: it does not parse as protobuf (${(e as Error).message})`, ['model']);
    }
    if (external.length) {
      throw OperationOutcomeError.of(422, 'security', `The model keeps tensor data in external files (${external.join(', ')}): a registered model must hold all its data in the one .onnx file`, ['model']);
    }
    let opened;
    try {
      opened = await this.inspector.open(bytes);
    } catch (e) {
      throw OperationOutcomeError.of(422, 'structure', `The file "model" is not an ONNX model onnxruntime can open: ${(e as Error).message}`, ['model']);
    }
    try {
      const signature = signatureProblems(manifest, opened.signature);
      if (signature.length) throw refused(422, 'invalid', signature);
      const problems: Problem[] = [];
      for (const { label, row } of referenceRows(manifest)) {
        try {
          const out = await opened.run(manifest, row);
          problems.push(...smokeProblems(manifest, label, out).map((message) => ({ path: 'outputs', message: `smoke run: ${message}` })));
        } catch (e) {
          problems.push({ path: 'inputs', message: `smoke run on ${label} failed in onnxruntime: ${(e as Error).message}` });
        }
      }
      if (problems.length) throw refused(422, 'business-rule', problems);
    } finally {
      await opened.release().catch(() => undefined);
    }
  }
}

function duplicate(manifest: ModelManifest, id: string): OperationOutcomeError {
  return conflict(`${manifest.name} ${manifest.version} is already registered (id ${id}; names are compared without case): a version is registered once; give the new model a new version`, 'duplicate');
}

export function tooLarge(limit: number): OperationOutcomeError {
  return OperationOutcomeError.of(413, 'too-long', `The model file is larger than the configured limit of ${limit} bytes (MODEL_MAX_BYTES)`, ['model']);
}
