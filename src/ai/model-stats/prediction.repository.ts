import { Injectable } from '@nestjs/common';
import { DatabaseService, type Tx } from '../../database/database.service';
import type { ModelManifest } from '../model-manifest';
import type { PredictionRecord, RecordedInputs } from './prediction-record';

export interface ModelRow {
  id: string;
  name: string | null;
  version: string | null;
  task: string | null;
  status: string;
  manifest: ModelManifest | null;
}

export interface PredictionCounts {
  jobs: number;
  predictions: number;
  insufficient: number;
  failures: number;
  shadowRuns: number;
  first: string | null;
  last: string | null;
}

export interface WindowRow {
  score: number | null;
  latency_ms: number | null;
  inputs: RecordedInputs | null;
}

export interface PairRow {
  active_model: string;
  active_score: number | null;
  active_label: string | null;
  shadow_score: number | null;
  shadow_label: string | null;
}

export interface StoredPrediction {
  job_id: string;
  patient_id: string | null;
  task: string;
  input_ref: string;
  output_ref: string | null;
  shadow: boolean;
  score: number | null;
  label: string | null;
  latency_ms: number | null;
  inputs: RecordedInputs | null;
  error: string | null;
  created_at: Date;
  /** created_at as PostgreSQL prints it (microseconds kept): the paging cursor. */
  at: string;
}

const COLUMNS = ['model_id', 'job_id', 'patient_id', 'task', 'input_ref', 'output_ref', 'shadow', 'score', 'label', 'outputs', 'latency_ms', 'inputs', 'error', 'basis'];

/** ai_predictions: written in the AI job's transaction, read for the statistics and the listing. */
@Injectable()
export class PredictionRepository {
  constructor(private readonly db: DatabaseService) {}

  /** Records predictions once per (model, job), and one active record per job (migration 002000): a retried job adds nothing. */
  async insert(tx: Tx, records: PredictionRecord[]): Promise<void> {
    if (!records.length) return;
    const { values, params } = rowsOf(records);
    await tx.query(`INSERT INTO ai_predictions (${COLUMNS.join(', ')}) VALUES ${values} ON CONFLICT DO NOTHING`, params);
  }

  /**
   * Claims the job for its active (non-shadow) record: true when this transaction inserted it,
   * false when the job already has one (unique per patient and job, migration 002000), whatever
   * model version wrote it. A concurrent claim of the same job waits until the first transaction
   * ends: false if it committed, true if it rolled back. Run first in the job's write transaction.
   */
  async claim(tx: Tx, active: PredictionRecord): Promise<boolean> {
    if (active.shadow) throw new Error('a job is claimed by its active record, not a shadow');
    const { values, params } = rowsOf([active]);
    const rows = await tx.query(`INSERT INTO ai_predictions (${COLUMNS.join(', ')}) VALUES ${values} ON CONFLICT DO NOTHING RETURNING 1 AS claimed`, params);
    return rows.length === 1;
  }

  /**
   * The patient's latest result by this model version that records its inputs (basis), in the
   * caller's transaction; the caller holds the patient's lock for the task, so no other job can
   * write one meanwhile.
   */
  async latestBasis(tx: Tx, patientId: string, modelId: string): Promise<{ basis: string; outputRef: string | null } | undefined> {
    const [row] = await tx.query<{ basis: string; output_ref: string | null }>(
      'SELECT basis, output_ref FROM ai_predictions WHERE patient_id = ? AND model_id = ? AND basis IS NOT NULL AND NOT shadow ORDER BY created_at DESC LIMIT 1',
      [patientId, modelId],
    );
    return row && { basis: row.basis, outputRef: row.output_ref };
  }

  async model(id: string): Promise<ModelRow | undefined> {
    const [row] = await this.db.query<ModelRow>('SELECT id, name, version, task, status, manifest FROM ai_models WHERE id = ?', [id]);
    return row;
  }

  async counts(modelId: string, since?: Date): Promise<PredictionCounts> {
    const [r] = await this.db.query<Record<string, string | Date | null>>(
      `SELECT count(*) AS jobs, count(score) AS predictions,
              count(*) FILTER (WHERE score IS NULL AND error IS NULL) AS insufficient,
              count(*) FILTER (WHERE error IS NOT NULL) AS failures,
              count(*) FILTER (WHERE shadow) AS shadow_runs,
              min(created_at) AS first, max(created_at) AS last
         FROM ai_predictions WHERE model_id = ? AND created_at >= ?`,
      [modelId, since ?? new Date(0)],
    );
    const iso = (v: unknown) => (v ? new Date(v as string | Date).toISOString() : null);
    return {
      jobs: Number(r.jobs),
      predictions: Number(r.predictions),
      insufficient: Number(r.insufficient),
      failures: Number(r.failures),
      shadowRuns: Number(r.shadow_runs),
      first: iso(r.first),
      last: iso(r.last),
    };
  }

  /** The latest `limit` scored predictions of a version (the window the distributions are computed over). */
  window(modelId: string, limit: number, since?: Date): Promise<WindowRow[]> {
    return this.db.query<WindowRow>(
      `SELECT score, latency_ms, inputs FROM ai_predictions
        WHERE model_id = ? AND created_at >= ? AND score IS NOT NULL
        ORDER BY created_at DESC, job_id DESC LIMIT ?`,
      [modelId, since ?? new Date(0), limit],
    );
  }

  /** The latest `limit` jobs this version ran as a shadow, each with the active version's prediction on the same job. */
  pairs(modelId: string, limit: number, since?: Date): Promise<PairRow[]> {
    return this.db.query<PairRow>(
      `SELECT a.model_id AS active_model, a.score AS active_score, a.label AS active_label, s.score AS shadow_score, s.label AS shadow_label
         FROM ai_predictions s JOIN ai_predictions a ON a.job_id = s.job_id AND NOT a.shadow
        WHERE s.model_id = ? AND s.shadow AND s.error IS NULL AND s.created_at >= ?
        ORDER BY s.created_at DESC, s.job_id DESC LIMIT ?`,
      [modelId, since ?? new Date(0), limit],
    );
  }

  /** The patients a version made predictions about (to find the one a pseudonym stands for). */
  async patientIds(modelId: string): Promise<string[]> {
    const rows = await this.db.query<{ patient_id: string }>(`SELECT DISTINCT patient_id FROM ai_predictions WHERE model_id = ? AND patient_id <> ''`, [modelId]);
    return rows.map((r) => r.patient_id);
  }

  /** A page of a version's predictions, newest first, after the cursor (created_at text, job id). */
  page(modelId: string, count: number, after?: { at: string; jobId: string }, patientId?: string): Promise<StoredPrediction[]> {
    const where = ['model_id = ?'];
    const params: unknown[] = [modelId];
    if (after) {
      where.push('(created_at, job_id) < (?::timestamptz, ?)');
      params.push(after.at, after.jobId);
    }
    if (patientId) {
      where.push('patient_id = ?');
      params.push(patientId);
    }
    return this.db.query<StoredPrediction>(
      `SELECT job_id, NULLIF(patient_id, '') AS patient_id, task, input_ref, output_ref, shadow, score, label, latency_ms, inputs, error, created_at, created_at::text AS at
         FROM ai_predictions WHERE ${where.join(' AND ')}
        ORDER BY created_at DESC, job_id DESC LIMIT ?`,
      [...params, count],
    );
  }
}

function rowsOf(records: PredictionRecord[]): { values: string; params: unknown[] } {
  const values = records.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?::jsonb, ?, ?)').join(', ');
  const params = records.flatMap((r) => [
    r.modelId, r.jobId, r.patientId ?? '', r.task, r.inputRef, r.outputRef, r.shadow, r.score, r.label,
    r.outputs === null ? null : JSON.stringify(r.outputs), r.latencyMs, r.inputs === null ? null : JSON.stringify(r.inputs), r.error, r.basis ?? null,
  ]);
  return { values, params };
}
