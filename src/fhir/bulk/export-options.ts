import { envInt } from '../../config/env-int';

/**
 * Tunables of Bulk Data export, from the environment (read where used, like the worker lock
 * options): the largest file part, resources read per page, how long finished exports are kept,
 * and how often a worker looks for accepted exports besides being woken by NOTIFY.
 */
export interface ExportOptions {
  /** Largest NDJSON file (one part of a type's output), in bytes. */
  fileBytes: number;
  pageSize: number;
  retentionMs: number;
  pollMs: number;
}

export function exportOptions(env: NodeJS.ProcessEnv = process.env): ExportOptions {
  return {
    fileBytes: envInt(env, 'BULK_EXPORT_FILE_BYTES', 8 * 1024 * 1024, 1024, 256 * 1024 * 1024),
    pageSize: envInt(env, 'BULK_EXPORT_PAGE_SIZE', 500, 1, 10_000),
    retentionMs: envInt(env, 'BULK_EXPORT_RETENTION_HOURS', 24, 1, 24 * 365) * 3_600_000,
    pollMs: envInt(env, 'BULK_EXPORT_POLL_MS', 1000, 50, 3_600_000),
  };
}
