import { Inject, Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { LOGGER } from '../../core/core.module';
import type { Tx } from '../../database/database.service';
import type { AiPlugin, PluginInput, PluginOutputs, PluginVersion, PreparedInput } from '../ai-plugin';
import { InferenceService, type ModelOutputs } from '../inference.service';
import { InputRefusedError } from '../input-refused';
import type { AiTask } from '../model-manifest';
import { ModelRegistry, conditionKey, type RegisteredModel } from '../model-registry.service';
import { failedRecord, predictionRecord, type PredictionRecord, type RecordContext } from '../model-stats/prediction-record';
import { PredictionRepository } from '../model-stats/prediction.repository';
import type { RuleTask } from '../rules/rule-catalog';
import { rulePredictionRecord, type PredictionPlace } from '../rules/rule-predictions';
import { RuleRegistry, type ActiveRule } from '../rules/rule-registry.service';
import { PluginCatalogue } from './catalogue';

/** A shadow version slower than this on a job is recorded as failed; the job does not wait longer for it. */
const SHADOW_TIMEOUT_MS = 5_000;

/** The version that serves a trigger and the shadow versions that run beside it (same task; for a model, same condition). */
export interface PluginVersions<V> {
  active: V;
  shadows: V[];
}

/** One run of a plugin: the active version's prepared input, result and outputs, and every version's ai_predictions record. */
export interface PluginRun<Prepared, Result, Output, V> {
  version: V;
  prepared: Prepared;
  result: Result;
  output: Output;
  /** The active version's record (none for a rule's built-in fallback, which has no registry row) and each shadow's, same job id. */
  records: PredictionRecord[];
  /** The engine's time for the active version (a model's inference; null for a rule or when the model did not run). */
  latencyMs: number | null;
}

/**
 * The steps every plugin run shares, whatever its engine and wherever it runs: the active version
 * for the trigger and its shadows (ModelRegistry or RuleRegistry, both ai_models), prepare and run
 * each version (ONNX via InferenceService, or the rule's code with the version's parameters), the
 * active version's outputs (which name its Device), and the prediction records of all of them (the
 * same job id, so that a shadow's agreement with the active version is measured). Shadows never
 * fail a run: a failing or slow one is logged and recorded with its error.
 *
 * The queued runner (AiTaskRunner) calls versions() and run() and writes the records with its
 * outputs; an in-write or on-request plugin's caller calls inTransaction() inside the transaction
 * that stores its output (or run() and then save()).
 */
@Injectable()
export class PluginCore {
  constructor(
    private readonly catalogue: PluginCatalogue,
    private readonly models: ModelRegistry,
    private readonly rules: RuleRegistry,
    private readonly inference: InferenceService,
    private readonly predictions: PredictionRepository,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** The version for this trigger (the plugin's own choice, else its task's active version) and the shadows beside it; undefined when none is active. */
  async versions<V extends PluginVersion>(plugin: AiPlugin<unknown, unknown, unknown, unknown, V>, trigger?: Resource): Promise<PluginVersions<V> | undefined> {
    if (!this.catalogue.has(plugin as never)) throw new Error(`The plugin of ${plugin.task} is not in the plugin catalogue`);
    const active = plugin.model ? await plugin.model(trigger) : await this.activeOf(plugin);
    if (!active) return undefined;
    return { active, shadows: await this.shadowsOf(plugin, active) };
  }

  /**
   * Runs the active version on the input (prepare, engine, outputs) with each shadow beside it.
   * `place` is where the prediction was made (input, patient, output), for a rule; a model's
   * record says it from the job (input.job) and the output's first resource.
   */
  async run<I, P, R, O, V extends PluginVersion>(plugin: AiPlugin<I, P, R, O, V>, versions: PluginVersions<V>, input: I, place?: PredictionPlace): Promise<PluginRun<P, R, O, V>> {
    const { active, shadows } = versions;
    const prepared = plugin.prepare(active, input);
    const unusable = failure(plugin, prepared);
    if (unusable) throw new InputRefusedError(unusable);
    // Shadows start now and run beside the active version; they never reject.
    const shadowRuns = shadows.map((s) => this.shadowRun(plugin, s, input, place));
    const { result, latencyMs } = await this.engineRun(plugin, active, prepared);
    const output = plugin.outputs(active, input, prepared, result);
    const own = this.record(plugin, active, { input, prepared, result, latencyMs, place, output, shadow: false });
    const records = [...(own ? [own] : []), ...(await Promise.all(shadowRuns))];
    return { version: active, prepared, result, output, records, latencyMs };
  }

  /** An in-write or on-request plugin in the caller's transaction: the run, its records saved there (so a rolled-back write counts nothing). */
  async inTransaction<I, P, R, O, V extends PluginVersion>(tx: Tx, plugin: AiPlugin<I, P, R, O, V>, input: I, place: PredictionPlace, trigger?: Resource): Promise<PluginRun<P, R, O, V>> {
    const versions = await this.versions(plugin as AiPlugin<unknown, unknown, unknown, unknown, V>, trigger);
    if (!versions) throw new Error(`No version of ${plugin.task} is active`);
    const run = await this.run(plugin, versions, input, place);
    await this.save(tx, run.records);
    return run;
  }

  /** Writes prediction records in the transaction of the output they belong to (once per version and job). */
  async save(tx: Tx, records: PredictionRecord[]): Promise<void> {
    await this.predictions.insert(tx, records);
  }

  private activeOf<V extends PluginVersion>(plugin: AiPlugin<unknown, unknown, unknown, unknown, V>): Promise<V | undefined> {
    const version = plugin.engine.kind === 'onnx' ? this.models.active(plugin.task as AiTask) : this.rules.active(plugin.task as RuleTask);
    return version as unknown as Promise<V | undefined>;
  }

  /** The shadow versions beside the active one; none if the registry cannot say (the active version runs alone). */
  private async shadowsOf<V extends PluginVersion>(plugin: AiPlugin<unknown, unknown, unknown, unknown, V>, active: V): Promise<V[]> {
    try {
      if (plugin.engine.kind === 'rule') return (await this.rules.shadows(plugin.task as RuleTask)) as unknown as V[];
      const model = active as unknown as RegisteredModel;
      const shadows = await this.models.shadows(model.manifest.task, conditionKey(model.manifest) ?? undefined);
      return shadows.filter((s) => s.id !== active.id) as unknown as V[];
    } catch (err) {
      this.logger.warn({ err, model: active.id }, 'shadow versions could not be read; running the active version alone');
      return [];
    }
  }

  /** The engine on one version's prepared input: the ONNX model (when there is enough input), or the rule's code with the version's parameters. */
  private async engineRun<P, R, V extends PluginVersion>(plugin: AiPlugin<never, P, R, unknown, V>, version: V, prepared: P): Promise<{ result: R; latencyMs: number | null }> {
    const engine = plugin.engine;
    if (engine.kind === 'rule') return { result: engine.evaluate((version as unknown as ActiveRule).definition, prepared), latencyMs: null };
    const row = prepared as unknown as PreparedInput;
    if (row.kind !== 'run') return { result: undefined as R, latencyMs: null };
    const model = version as unknown as RegisteredModel;
    const started = process.hrtime.bigint();
    const outputs: ModelOutputs = await this.inference.run(model.manifest, model.sha256, model.bytes, row.row);
    return { result: outputs as R, latencyMs: Number(process.hrtime.bigint() - started) / 1e6 };
  }

  /** One shadow version on the same input: its prediction, or its failure, as a record. Never rejects. */
  private async shadowRun<I, P, R, O, V extends PluginVersion>(plugin: AiPlugin<I, P, R, O, V>, version: V, input: I, place: PredictionPlace | undefined): Promise<PredictionRecord> {
    const started = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
    let timer: NodeJS.Timeout | undefined;
    try {
      const prepared = plugin.prepare(version, input);
      const unusable = failure(plugin, prepared);
      if (unusable) return this.failed(plugin, version, input, place, unusable, null);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${SHADOW_TIMEOUT_MS} ms`)), SHADOW_TIMEOUT_MS);
      });
      const { result, latencyMs } = await Promise.race([this.engineRun(plugin, version, prepared), timeout]);
      return this.record(plugin, version, { input, prepared, result, latencyMs: latencyMs === null ? null : elapsed(), place, shadow: true }) as PredictionRecord;
    } catch (err) {
      this.logger.warn({ err, plugin: plugin.task, version: version.id }, 'shadow version failed; the run goes on without it');
      return this.failed(plugin, version, input, place, err instanceof Error ? err.message : String(err), plugin.engine.kind === 'onnx' ? elapsed() : null);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A version's ai_predictions record. A model's: score and class from its manifest, the inputs it
   * was fed, its latency (prediction-record.ts). A rule's: what the plugin says the result counts as
   * (engine.scored), none for the built-in fallback that has no registry row.
   */
  private record<I, P, R, O, V extends PluginVersion>(
    plugin: AiPlugin<I, P, R, O, V>,
    version: V,
    run: { input: I; prepared: P; result: R; latencyMs: number | null; place?: PredictionPlace; output?: O; shadow: boolean },
  ): PredictionRecord | undefined {
    const engine = plugin.engine;
    if (engine.kind === 'onnx') {
      const first = (run.output as PluginOutputs | undefined)?.create[0];
      const ctx = modelContext(version, run.input, run.shadow, first ? `${first.resourceType}/${first.id}` : null);
      return predictionRecord(ctx, run.prepared as unknown as PreparedInput, run.result as unknown as ModelOutputs | undefined, run.latencyMs);
    }
    const rule = version as unknown as ActiveRule;
    if (!run.shadow && !rule.registered) return undefined; // no row to count against (ai_predictions.model_id references ai_models)
    const record = rulePredictionRecord(rule, { ...placeOf(plugin, run.place), ...engine.scored(run.result, run.prepared) });
    return run.shadow ? { ...record, shadow: true, outputRef: null } : record;
  }

  private failed<I, P, R, O, V extends PluginVersion>(plugin: AiPlugin<I, P, R, O, V>, version: V, input: I, place: PredictionPlace | undefined, error: string, latencyMs: number | null): PredictionRecord {
    if (plugin.engine.kind === 'onnx') return failedRecord(modelContext(version, input, true, null), error, latencyMs);
    const record = rulePredictionRecord(version as unknown as ActiveRule, { ...placeOf(plugin, place), score: null, label: null });
    return { ...record, shadow: true, outputRef: null, error };
  }
}

/** Why a model plugin's prepared input cannot be used at all (the job fails), if so. */
function failure(plugin: { engine: { kind: string } }, prepared: unknown): string | undefined {
  if (plugin.engine.kind !== 'onnx') return undefined;
  const p = prepared as PreparedInput;
  return p.kind === 'fail' ? p.reason : undefined;
}

function modelContext(version: PluginVersion, input: unknown, shadow: boolean, outputRef: string | null): RecordContext {
  const { job, jobId } = input as PluginInput;
  return { modelId: version.id, manifest: (version as RegisteredModel).manifest, job, jobId, shadow, outputRef };
}

function placeOf(plugin: { task: string }, place: PredictionPlace | undefined): PredictionPlace {
  if (!place) throw new Error(`A run of the rule plugin ${plugin.task} needs the place of its prediction`);
  return place;
}
