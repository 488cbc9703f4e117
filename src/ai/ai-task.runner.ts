import { Inject, Injectable } from '@nestjs/common';
import type { Observation, Patient, Resource } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { LOGGER } from '../core/core.module';
import { envInt } from '../config/env-int';
import { DatabaseService } from '../database/database.service';
import { ResourceStore, type StoredVersion } from '../fhir/store/resource-store.repository';
import { ResourceWriteService, prepare } from '../fhir/write/resource-write.service';
import type { ResourceEvent } from '../outbox/outbox.repository';
import type { Task } from '@medplum/fhirtypes';
import { AI_ACTOR_PREFIX, AI_SOURCE } from '../fhir/write/ai-source';
import type { AiJob, AiPlugin, ModelPlugin } from './ai-plugin';
import { coalescePerPatient } from './job-coalescing';
import { failedRequest, isOpenRequest } from './request-task';
import { basisKey } from './result-basis';
import type { RegisteredModel } from './model-registry.service';
import { GroupCommit } from './group-commit';
import { PredictionRepository } from './model-stats/prediction.repository';
import { PluginCatalogue } from './plugins/catalogue';
import { PluginCore } from './plugins/plugin-core';
import { provenanceOfEverything } from './plugins/outputs';

export type AiJobResult =
  /** `predicted`: whether the output holds a prediction (not a "too little is known" note). */
  | { status: 'written'; model: string; output: string; predicted: boolean }
  /** A per-patient result with exactly these inputs existed already: no new one (a request answered with it). */
  | { status: 'reused'; model: string; output: string }
  | { status: 'skipped'; reason: string };

/** The actor of the AI worker's write transactions (`system:ai:<model>`): its own writes trigger no plugin. */
export { AI_ACTOR_PREFIX } from '../fhir/write/ai-source';

/** The deterministic id of an AI job: one per task and input version. */
export function aiJobId(job: AiJob): string {
  return `${job.task}/${job.resourceType}/${job.resourceId}/_history/${job.versionId}`;
}

/**
 * Runs the queued plugins' jobs: which plugins a resource change triggers, and for one job: re-read
 * the trigger (skip if superseded or deleted), gather the patient's data, run the plugin through
 * PluginCore (active model version and its shadows, prepare, inference, outputs, prediction
 * records), and write the outputs in one transaction through the one write path, unless this job
 * already wrote them (idempotent under retries and crashes).
 *
 * Shadow versions' predictions are recorded in ai_predictions with the active one's, in the same
 * transaction as the output, but they write no FHIR resource and raise no recommendation.
 */
@Injectable()
export class AiTaskRunner {
  /** At most this many jobs per shared write transaction (AI_GROUP_COMMIT_MAX; 1: one transaction per job). */
  private readonly commits = new GroupCommit((ctx, fn) => this.writer.inTransaction(ctx, fn), envInt(process.env, 'AI_GROUP_COMMIT_MAX', 16, 1, 1000), 50, (err, units) =>
    this.logger.info({ err, units }, 'a shared AI write transaction failed; its jobs are written one per transaction'),
  );

  constructor(
    private readonly store: ResourceStore,
    private readonly db: DatabaseService,
    private readonly writer: ResourceWriteService,
    private readonly core: PluginCore,
    private readonly catalogue: PluginCatalogue,
    private readonly predictions: PredictionRepository,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** The queued plugins (the model plugins of the catalogue). */
  get plugins(): ModelPlugin[] {
    return this.catalogue.queued();
  }

  /**
   * Whether a committed change could trigger any plugin, decided without reading it: not a
   * deletion, and not one of the AI's own writes (its outputs, their Provenance, recommendations,
   * alerts, the write-back onto the trigger), known by the event's actor (`system:ai:...`), which
   * no client can take. This is the only test of "the AI's own write": plugins' `triggers` do not
   * look at meta.source, which a client sends.
   */
  mayTrigger(event: Pick<ResourceEvent, 'action' | 'actor'>): boolean {
    return event.action !== 'delete' && !event.actor?.startsWith(AI_ACTOR_PREFIX);
  }

  /** The AI jobs a committed change calls for; `read`: the fan-out's shared read of the current version. */
  async jobsFor(event: ResourceEvent, read: () => Promise<StoredVersion | undefined> = () => this.store.readCurrent(event.resourceType, event.resourceId)): Promise<AiJob[]> {
    if (!this.mayTrigger(event)) return [];
    const current = await read();
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

  /** The jobs of one write transaction's events, a per-patient plugin's coalesced to one per patient (job-coalescing.ts). */
  coalesce(jobsByEvent: readonly (readonly AiJob[])[]): AiJob[][] {
    return coalescePerPatient(jobsByEvent, (task) => this.plugins.some((p) => p.task === task && p.resultPerPatient));
  }

  /**
   * A job failed for good (its attempts exhausted, or its input refused): the request Task that
   * triggered it (`$triage`) is set to failed with the reason, so that a client polling it is told.
   * Only the job's own version of a still open request is changed (a rerun changes nothing).
   */
  async failRequest(job: AiJob, reason: string): Promise<boolean> {
    if (job.resourceType !== 'Task') return false;
    const current = await this.store.readCurrent('Task', job.resourceId);
    if (!current?.json || current.deleted || current.versionId !== job.versionId) return false;
    const task = JSON.parse(current.json) as Task;
    if (!isOpenRequest(task)) return false;
    const failed = prepare(failedRequest(task, reason), 'Task', job.resourceId);
    await this.writer.inTransaction({ actor: `${AI_ACTOR_PREFIX}${job.task}` }, (tx) => this.writer.updateInTx(tx, failed, { ifMatch: `W/"${job.versionId}"` }));
    return true;
  }

  async run(job: AiJob): Promise<AiJobResult> {
    const plugin = this.plugins.find((p) => p.task === job.task);
    if (!plugin) throw new Error(`No plugin for the task ${job.task}`);
    const jobId = aiJobId(job);
    const patientId = job.patientId ?? undefined;
    // The trigger and its patient in one round trip.
    const found = await this.store.readCurrentMany([{ resourceType: job.resourceType, id: job.resourceId }, ...(patientId ? [{ resourceType: 'Patient', id: patientId }] : [])]);
    const current = found.get(`${job.resourceType}/${job.resourceId}`);
    if (!current?.json || current.deleted) return { status: 'skipped', reason: `${job.resourceType}/${job.resourceId} no longer exists` };
    const resource = JSON.parse(current.json) as Resource;
    // A version the AI wrote right after this one only annotates it (e.g. the anomaly verdict on a reading): it does not supersede it.
    // The AI's meta.source on a stored version is the AI's own (the write path takes it off every other writer's resource).
    const annotated = current.versionId === job.versionId + 1 && resource.meta?.source === AI_SOURCE;
    if (current.versionId !== job.versionId && !annotated) return { status: 'skipped', reason: `superseded by version ${current.versionId}` };
    const versions = await this.core.versions(plugin, resource);
    if (!versions) return { status: 'skipped', reason: `no active model for ${job.task}` };
    const model = versions.active;

    const patient = patientId ? patientOf(found.get(`Patient/${patientId}`)) : undefined;
    const observations = plugin.needsObservations && patientId ? await this.observationsOf(patientId, observationCodesOf(plugin, [model, ...versions.shadows], resource)) : [];
    const context = plugin.context ? await plugin.context(resource, model) : undefined;
    const input = { job, jobId, resource, patient, observations, ...(context ? { context } : {}) };
    // The shared core: prepare, inference (shadows beside it), outputs, every version's prediction record.
    const { output, records, prepared, latencyMs: inferenceMs } = await this.core.run(plugin, versions, input);
    // The one Provenance names every resource the job writes (the write-back as the version it makes).
    const { create, update, supersede = [] } = provenanceOfEverything(output, job.versionId + 1);
    const outputRef = `${create[0].resourceType}/${create[0].id}`;
    // A per-patient result (triage) is keyed by its inputs: model version, input resources and the values fed from them.
    const basis = plugin.resultPerPatient && patientId && prepared.kind !== 'fail' ? basisKey(model.id, prepared) : null;

    // Validated before any transaction: an output that fails validation fails its own job alone.
    const creates = create.map((r) => prepare(r, r.resourceType, r.id as string));
    const updated = update && prepare(update, update.resourceType, update.id as string);
    const superseded = supersede.map((s) => ({ resource: prepare(s.resource, s.resource.resourceType, s.resource.id as string), versionId: s.versionId }));
    // Group commit: concurrent jobs of the same model version share one transaction (each job's
    // outcome stays its own: a failed shared transaction is re-run one job per transaction).
    const written = await this.commits.submit({ actor: `${AI_ACTOR_PREFIX}${model.id}` }, async (tx): Promise<{ output: string; reused: boolean } | undefined> => {
      // One writer per job at a time, and never twice: the active record is unique per job
      // (migration 002000; a concurrent run waits on the key) and is counted only with its output.
      const active = records.find((r) => !r.shadow);
      if (!active) throw new Error(`job ${jobId}: no record of the active version`);
      const shadows = records.filter((r) => r !== active);
      if (basis && patientId) {
        // One writer per patient and task until commit, so that two jobs on the same inputs
        // (several vital signs, several workers) cannot both find no result and both write one.
        await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 27))', [`ai-result:${job.task}:${patientId}`]);
        const latest = await this.predictions.latestBasis(tx, patientId, model.id);
        if (latest?.basis === basis && latest.outputRef) {
          // Already assessed on exactly these inputs: the job points at that result and writes no new one.
          if (!(await this.predictions.claim(tx, { ...active, basis, outputRef: latest.outputRef }))) return undefined;
          const answer = plugin.reused?.(input, latest.outputRef);
          if (answer) await this.writer.updateInTx(tx, prepare(answer, answer.resourceType, answer.id as string), { ifMatch: `W/"${job.versionId}"` });
          await this.predictions.insert(tx, shadows);
          return { output: latest.outputRef, reused: true };
        }
      }
      if (!(await this.predictions.claim(tx, basis ? { ...active, basis } : active))) return undefined;
      for (const r of creates) await this.writer.createInTx(tx, r);
      if (updated) await this.writer.updateInTx(tx, updated, { ifMatch: `W/"${job.versionId}"` });
      for (const s of superseded) await this.writer.updateInTx(tx, s.resource, { ifMatch: `W/"${s.versionId}"` });
      // The shadows' records beside it, once per (model, job).
      await this.predictions.insert(tx, shadows);
      return { output: outputRef, reused: false };
    });
    this.logger.debug({ jobId, model: model.id, inferenceMs, written }, 'ai job');
    if (!written) return { status: 'skipped', reason: 'already written by an earlier run of this job' };
    if (written.reused) return { status: 'reused', model: model.id, output: written.output };
    const predicted = records.some((r) => !r.shadow && r.score !== null);
    return { status: 'written', model: model.id, output: written.output, predicted };
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
    const rows = await this.db.queryPrepared<{ content: Observation }>(
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

function patientOf(p: StoredVersion | undefined): Patient | undefined {
  return p?.json && !p.deleted ? (JSON.parse(p.json) as Patient) : undefined;
}
