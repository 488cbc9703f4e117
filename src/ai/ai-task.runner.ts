import { Inject, Injectable } from '@nestjs/common';
import type { Observation, Patient, Resource } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { LOGGER } from '../core/core.module';
import { DatabaseService } from '../database/database.service';
import { ResourceStore } from '../fhir/store/resource-store.repository';
import { SearchService } from '../fhir/search/search.service';
import { ResourceWriteService, prepare } from '../fhir/write/resource-write.service';
import type { ResourceEvent } from '../outbox/outbox.repository';
import { AI_JOB_SYSTEM, AI_SOURCE, type AiJob, type AiPlugin, type PluginInput } from './ai-plugin';
import { InferenceService } from './inference.service';
import { ModelRegistry, conditionKey, type RegisteredModel } from './model-registry.service';
import { failedRecord, predictionRecord, type PredictionRecord } from './model-stats/prediction-record';
import { PredictionRepository } from './model-stats/prediction.repository';
import { DiagnosisPlugin } from './plugins/diagnosis.plugin';
import { SentimentPlugin } from './plugins/sentiment.plugin';
import { TriagePlugin } from './plugins/triage.plugin';
import { AnomalyPlugin } from './plugins/anomaly.plugin';

export type AiJobResult =
  | { status: 'written'; model: string; output: string }
  | { status: 'skipped'; reason: string };

/** A shadow version slower than this on a job is recorded as failed; the job does not wait longer for it. */
const SHADOW_TIMEOUT_MS = 5_000;

/** The deterministic id of an AI job: one per task and input version. */
export function aiJobId(job: AiJob): string {
  return `${job.task}/${job.resourceType}/${job.resourceId}/_history/${job.versionId}`;
}

/**
 * Runs AI jobs: which plugins a resource change triggers, and for one job: re-read the trigger
 * (skip if superseded or deleted), pick the active model version, build the input, run the model,
 * and write the outputs in one transaction through the one write path, unless this job already
 * wrote them (idempotent under retries and crashes).
 *
 * Shadow versions of the task run beside the active one on the same data (each prepared by its own
 * manifest); their predictions are recorded in ai_predictions with the active one's, in the same
 * transaction as the output, but they write no FHIR resource and raise no recommendation. A
 * shadow that fails or times out is logged and recorded as failed; the job goes on.
 */
@Injectable()
export class AiTaskRunner {
  readonly plugins: AiPlugin[];

  constructor(
    private readonly store: ResourceStore,
    private readonly db: DatabaseService,
    private readonly writer: ResourceWriteService,
    private readonly search: SearchService,
    private readonly inference: InferenceService,
    private readonly registry: ModelRegistry,
    private readonly predictions: PredictionRepository,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.plugins = [new DiagnosisPlugin(registry), new TriagePlugin(registry, store), new SentimentPlugin(registry), new AnomalyPlugin(registry, store)];
  }

  /** The AI jobs a committed change calls for. */
  async jobsFor(event: ResourceEvent): Promise<AiJob[]> {
    if (event.action === 'delete') return [];
    const current = await this.store.readCurrent(event.resourceType, event.resourceId);
    if (!current?.json || current.deleted || current.versionId !== event.versionId) return []; // a later version has its own event
    const resource = JSON.parse(current.json) as Resource;
    const jobs: AiJob[] = [];
    for (const plugin of this.plugins) {
      if (await plugin.triggers(event, resource)) {
        jobs.push({ task: plugin.task, resourceType: event.resourceType, resourceId: event.resourceId, versionId: event.versionId, patientId: event.patientId });
      }
    }
    return jobs;
  }

  async run(job: AiJob): Promise<AiJobResult> {
    const plugin = this.plugins.find((p) => p.task === job.task);
    if (!plugin) throw new Error(`No plugin for the task ${job.task}`);
    const jobId = aiJobId(job);
    const current = await this.store.readCurrent(job.resourceType, job.resourceId);
    if (!current?.json || current.deleted) return { status: 'skipped', reason: `${job.resourceType}/${job.resourceId} no longer exists` };
    const resource = JSON.parse(current.json) as Resource;
    // A version the AI wrote right after this one only annotates it (e.g. the anomaly verdict on a reading): it does not supersede it.
    const annotated = current.versionId === job.versionId + 1 && resource.meta?.source === AI_SOURCE;
    if (current.versionId !== job.versionId && !annotated) return { status: 'skipped', reason: `superseded by version ${current.versionId}` };
    const model = await plugin.model(resource);
    if (!model) return { status: 'skipped', reason: `no active model for ${job.task}` };

    const patientId = job.patientId ?? undefined;
    const patient = patientId ? await this.readPatient(patientId) : undefined;
    const shadows = await this.shadowsOf(model);
    const observations = plugin.needsObservations && patientId ? await this.observationsOf(patientId, observationCodesOf(plugin, [model, ...shadows], resource)) : [];
    const context = plugin.context ? await plugin.context(resource) : undefined;
    const input = { job, jobId, resource, patient, observations, ...(context ? { context } : {}) };
    const prepared = plugin.prepare(model, input);
    if (prepared.kind === 'fail') throw new Error(prepared.reason);
    // Shadows start now and run beside the active model; they never reject.
    const shadowRuns = shadows.map((s) => this.runShadow(plugin, s, input));
    const started = process.hrtime.bigint();
    const outputs = prepared.kind === 'run' ? await this.inference.run(model.manifest, model.sha256, model.bytes, prepared.row) : undefined;
    const inferenceMs = Number(process.hrtime.bigint() - started) / 1e6;
    const { create, update } = plugin.outputs(model, input, prepared, outputs);
    const outputRef = `${create[0].resourceType}/${create[0].id}`;
    const records = [
      predictionRecord({ modelId: model.id, manifest: model.manifest, job, jobId, shadow: false, outputRef }, prepared, outputs, prepared.kind === 'run' ? inferenceMs : null),
      ...(await Promise.all(shadowRuns)),
    ];

    const written = await this.writer.inTransaction({ actor: `system:ai:${model.id}` }, async (tx) => {
      // One writer per job at a time, and never twice: the output carries the job's identifier.
      await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 7))', [jobId]);
      const done = await this.search.matchIds(tx, create[0].resourceType, `identifier=${encodeURIComponent(AI_JOB_SYSTEM)}|${encodeURIComponent(jobId)}`);
      if (done.length) return undefined;
      for (const r of create) await this.writer.createInTx(tx, prepare(r, r.resourceType, r.id as string));
      if (update) await this.writer.updateInTx(tx, prepare(update, update.resourceType, update.id as string), { ifMatch: `W/"${job.versionId}"` });
      // Counted only with the output they belong to, and once per job (unique model and job).
      await this.predictions.insert(tx, records);
      return outputRef;
    });
    this.logger.debug({ jobId, model: model.id, inferenceMs, written }, 'ai job');
    return written ? { status: 'written', model: model.id, output: written } : { status: 'skipped', reason: 'already written by an earlier run of this job' };
  }

  /** The shadow versions beside the active one (same task and condition); none if the registry cannot say. */
  private async shadowsOf(active: RegisteredModel): Promise<RegisteredModel[]> {
    try {
      const shadows = await this.registry.shadows(active.manifest.task, conditionKey(active.manifest) ?? undefined);
      return shadows.filter((s) => s.id !== active.id);
    } catch (err) {
      this.logger.warn({ err, model: active.id }, 'shadow versions could not be read; running the active version alone');
      return [];
    }
  }

  /** One shadow version on the job's data: its prediction, or its failure, as a record. Never rejects. */
  private async runShadow(plugin: AiPlugin, model: RegisteredModel, input: PluginInput): Promise<PredictionRecord> {
    const ctx = { modelId: model.id, manifest: model.manifest, job: input.job, jobId: input.jobId, shadow: true };
    const started = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
    let timer: NodeJS.Timeout | undefined;
    try {
      const prepared = plugin.prepare(model, input);
      if (prepared.kind === 'fail') return failedRecord(ctx, prepared.reason, null);
      if (prepared.kind !== 'run') return predictionRecord(ctx, prepared, undefined, null);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${SHADOW_TIMEOUT_MS} ms`)), SHADOW_TIMEOUT_MS);
      });
      const outputs = await Promise.race([this.inference.run(model.manifest, model.sha256, model.bytes, prepared.row), timeout]);
      return predictionRecord(ctx, prepared, outputs, elapsed());
    } catch (err) {
      this.logger.warn({ err, jobId: input.jobId, model: model.id }, 'shadow model failed; the job goes on without it');
      return failedRecord(ctx, err instanceof Error ? err.message : String(err), elapsed());
    } finally {
      clearTimeout(timer);
    }
  }

  private async readPatient(id: string): Promise<Patient | undefined> {
    const p = await this.store.readCurrent('Patient', id);
    return p?.json && !p.deleted ? (JSON.parse(p.json) as Patient) : undefined;
  }

  /**
   * The patient's current Observations (one shard: keyed by patient_id); with `codes`, only those
   * whose code or a component's code is one of them (the search index's combo-code rows), so a
   * patient with a long history of other readings costs index probes, not decoded resources.
   */
  private async observationsOf(patientId: string, codes?: readonly string[]): Promise<Observation[]> {
    const byCode = codes
      ? ` AND EXISTS (SELECT 1 FROM search_token t WHERE t.patient_id = r.patient_id AND t.resource_type = 'Observation' AND t.resource_id = r.id AND t.code = 'combo-code' AND t.value = ANY (?::text[]))`
      : '';
    const rows = await this.db.query<{ content: Observation }>(
      `SELECT r.content FROM fhir_patient_resource r WHERE r.patient_id = ? AND r.resource_type = 'Observation' AND NOT r.deleted AND r.content IS NOT NULL${byCode}`,
      codes ? [patientId, [...codes]] : [patientId],
    );
    return rows.map((r) => r.content);
  }
}

/** The codes every given model version of the plugin reads (the union), or undefined when any of them reads all. Pure. */
export function observationCodesOf(plugin: Pick<AiPlugin, 'observationCodes'>, models: readonly RegisteredModel[], resource: Resource): string[] | undefined {
  if (!plugin.observationCodes) return undefined;
  const codes = new Set<string>();
  for (const m of models) {
    const own = plugin.observationCodes(m, resource);
    if (!own) return undefined;
    for (const c of own) codes.add(c);
  }
  return [...codes];
}
