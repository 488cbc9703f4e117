import type { ModelManifest } from '../model-manifest';

export type ModelStatus = 'candidate' | 'shadow' | 'active' | 'retired';
export const MODEL_STATUSES: ModelStatus[] = ['candidate', 'shadow', 'active', 'retired'];

/** An ai_models row as the registry API reads it (never the file's bytes). */
export interface ModelRow {
  id: string;
  name: string;
  version: string;
  task: string;
  condition_code: string | null;
  status: ModelStatus;
  sha256: string;
  bytes: number;
  accuracy: string | null;
  last_trained: Date | null;
  federated: boolean | null;
  previous_active_id: string | null;
  registered_at: Date;
  manifest: ModelManifest;
  /** `onnx` or `rule` (no file). */
  kind?: string;
}

export interface TransitionRow {
  action: string;
  from_status: string | null;
  to_status: string;
  other_model_id: string | null;
  actor: string;
  reason: string | null;
  at: Date;
}

/** The columns ModelRow reads (the file's size, not the file). */
export const MODEL_COLUMNS = `id, name, version, task, condition_code, status, sha256, octet_length(model_file) AS bytes, accuracy, last_trained, federated, previous_active_id, registered_at, manifest, kind`;

/** A model version as the API answers it. Pure. */
export function modelView(row: ModelRow, history?: TransitionRow[]): Record<string, unknown> {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    task: row.task,
    condition: row.condition_code,
    status: row.status,
    sha256: row.sha256,
    bytes: Number(row.bytes),
    registered_at: new Date(row.registered_at).toISOString(),
    last_trained: row.last_trained ? new Date(row.last_trained).toISOString() : null,
    federated: row.federated,
    accuracy: row.accuracy === null ? null : Number(row.accuracy),
    previous_active: row.previous_active_id,
    device: `Device/${row.id}`,
    kind: row.kind ?? 'onnx',
    file: row.kind === 'rule' ? null : `/api/models/${row.id}/model.onnx`,
    manifest: row.manifest,
    ...(history
      ? {
          history: history.map((h) => ({
            action: h.action,
            from: h.from_status,
            to: h.to_status,
            ...(h.other_model_id ? { other: h.other_model_id } : {}),
            by: h.actor,
            ...(h.reason ? { reason: h.reason } : {}),
            at: new Date(h.at).toISOString(),
          })),
        }
      : {}),
  };
}
