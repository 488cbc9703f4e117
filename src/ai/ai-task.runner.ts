import { Inject, Injectable } from '@nestjs/common';
import type { Observation, Patient, Resource } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { LOGGER } from '../core/core.module';
import { DatabaseService } from '../database/database.service';
import { ResourceStore } from '../fhir/store/resource-store.repository';
import { SearchService } from '../fhir/search/search.service';
import { ResourceWriteService, prepare } from '../fhir/write/resource-write.service';
import type { ResourceEvent } from '../outbox/outbox.repository';
import { AI_JOB_SYSTEM, type AiJob, type AiPlugin } from './ai-plugin';
import { InferenceService } from './inference.service';
import { ModelRegistry } from './model-registry.service';
import { DiagnosisPlugin } from './plugins/diagnosis.plugin';
import { SentimentPlugin } from './plugins/sentiment.plugin';
import { TriagePlugin } from './plugins/triage.plugin';

export type AiJobResult =
  | { status: 'written'; model: string; output: string }
  | { status: 'skipped'; reason: string };

/** The deterministic id of an AI job: one per task and input version. */
export function aiJobId(job: AiJob): string {
  return `${job.task}/${job.resourceType}/${job.resourceId}/_history/${job.versionId}`;
}

/**
 * Runs AI jobs: which plugins a resource change triggers, and for one job: re-read the trigger
 * (skip if superseded or deleted), pick the active model version, build the input, run the model,
 * and write the outputs in one transaction through the one write path, unless this job already
 * wrote them (idempotent under retries and crashes).
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
    registry: ModelRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.plugins = [new DiagnosisPlugin(registry), new TriagePlugin(registry, store), new SentimentPlugin(registry)];
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
    if (current.versionId !== job.versionId) return { status: 'skipped', reason: `superseded by version ${current.versionId}` };
    const resource = JSON.parse(current.json) as Resource;
    const model = await plugin.model(resource);
    if (!model) return { status: 'skipped', reason: `no active model for ${job.task}` };

    const patientId = job.patientId ?? undefined;
    const patient = patientId ? await this.readPatient(patientId) : undefined;
    const observations = plugin.needsObservations && patientId ? await this.observationsOf(patientId) : [];
    const input = { job, jobId, resource, patient, observations };
    const prepared = plugin.prepare(model, input);
    if (prepared.kind === 'fail') throw new Error(prepared.reason);
    const started = process.hrtime.bigint();
    const outputs = prepared.kind === 'run' ? await this.inference.run(model.manifest, model.sha256, model.bytes, prepared.row) : undefined;
    const inferenceMs = Number(process.hrtime.bigint() - started) / 1e6;
    const { create, update } = plugin.outputs(model, input, prepared, outputs);

    const written = await this.writer.inTransaction({ actor: `system:ai:${model.id}` }, async (tx) => {
      // One writer per job at a time, and never twice: the output carries the job's identifier.
      await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 7))', [jobId]);
      const done = await this.search.matchIds(tx, create[0].resourceType, `identifier=${encodeURIComponent(AI_JOB_SYSTEM)}|${encodeURIComponent(jobId)}`);
      if (done.length) return undefined;
      for (const r of create) await this.writer.createInTx(tx, prepare(r, r.resourceType, r.id as string));
      if (update) await this.writer.updateInTx(tx, prepare(update, update.resourceType, update.id as string), { ifMatch: `W/"${job.versionId}"` });
      return `${create[0].resourceType}/${create[0].id}`;
    });
    this.logger.debug({ jobId, model: model.id, inferenceMs, written }, 'ai job');
    return written ? { status: 'written', model: model.id, output: written } : { status: 'skipped', reason: 'already written by an earlier run of this job' };
  }

  private async readPatient(id: string): Promise<Patient | undefined> {
    const p = await this.store.readCurrent('Patient', id);
    return p?.json && !p.deleted ? (JSON.parse(p.json) as Patient) : undefined;
  }

  /** The patient's current Observations (one shard: keyed by patient_id). */
  private async observationsOf(patientId: string): Promise<Observation[]> {
    const rows = await this.db.query<{ content: Observation }>(
      `SELECT content FROM fhir_patient_resource WHERE patient_id = ? AND resource_type = 'Observation' AND NOT deleted AND content IS NOT NULL`,
      [patientId],
    );
    return rows.map((r) => r.content);
  }
}
