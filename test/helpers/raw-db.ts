import type { Client } from 'pg';

/**
 * Looking at raw rows the way someone holding a database dump would, for the write-path suites.
 */

/** Whether `haystack` (a bytea read as a Buffer, or text) holds `needle` as UTF-8 bytes. */
export function containsBytes(haystack: Buffer | string | null | undefined, needle: string): boolean {
  if (haystack === null || haystack === undefined) return false;
  const buf = Buffer.isBuffer(haystack) ? haystack : Buffer.from(haystack, 'utf8');
  return buf.includes(Buffer.from(needle, 'utf8'));
}

/** The highest audit_log id so far (0 when empty): audit rows written later have larger ids. */
export async function auditMark(pg: Client): Promise<number> {
  const { rows } = await pg.query<{ id: string | null }>('SELECT max(id) AS id FROM audit_log');
  return Number(rows[0].id ?? 0);
}

export interface AuditRow {
  id: string;
  actor: string;
  request_id: string | null;
  table_name: string;
  operation: string;
  row_key: Record<string, unknown>;
  changed_columns: string[] | null;
}

/** audit_log rows written after `mark`, oldest first. */
/** The actor under which the server stores its AuditEvents, a moment after each request. */
export const AUDIT_EVENT_ACTOR = 'system:audit';

/** audit_log rows written after `mark` by the requests under test (not the AuditEvents recorded about them), oldest first. */
export async function auditSince(pg: Client, mark: number): Promise<AuditRow[]> {
  const { rows } = await pg.query<AuditRow>(
    'SELECT id, actor, request_id, table_name, operation, row_key, changed_columns FROM audit_log WHERE id > $1 AND actor <> $2 ORDER BY id',
    [mark, AUDIT_EVENT_ACTOR],
  );
  return rows;
}

/** The highest outbox_events id so far (0 when empty). */
export async function outboxMark(pg: Client): Promise<number> {
  const { rows } = await pg.query<{ id: string | null }>('SELECT max(id) AS id FROM outbox_events');
  return Number(rows[0].id ?? 0);
}

export interface OutboxRow {
  id: string;
  resource_type: string;
  resource_id: string;
  version_id: number;
  patient_id: string | null;
  action: string;
  dispatched_at: Date | null;
}

export async function outboxSince(pg: Client, mark: number): Promise<OutboxRow[]> {
  const { rows } = await pg.query<OutboxRow>(
    'SELECT id, resource_type, resource_id, version_id, patient_id, action, dispatched_at FROM outbox_events WHERE id > $1 ORDER BY id',
    [mark],
  );
  return rows;
}

export async function count(pg: Client, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pg.query<{ n: string }>(`SELECT count(*) AS n FROM (${sql}) q`, params);
  return Number(rows[0].n);
}

/** Row counts of the given tables, to show that a refused write changed nothing. */
export async function tableCounts(pg: Client, tables: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  // AuditEvents (the server's record of each request, stored as resources) are not what a refused write stored.
  const own = (t: string) =>
    t.startsWith('fhir_resource') ? ` WHERE resource_type <> 'AuditEvent'` : t === 'audit_log' ? ` WHERE actor <> '${AUDIT_EVENT_ACTOR}'` : '';
  for (const t of tables) out[t] = await count(pg, `SELECT 1 FROM ${t}${own(t)}`);
  return out;
}

/** The stored rows of a resource in one of the store's tables (current or history), any patient. */
export async function storeRows(pg: Client, table: 'fhir_patient_resource' | 'fhir_patient_resource_history' | 'fhir_resource' | 'fhir_resource_history', type: string, id: string) {
  const patientCol = table.startsWith('fhir_patient') ? 'patient_id' : 'NULL::text AS patient_id';
  const { rows } = await pg.query<{
    patient_id: string | null;
    version_id: number;
    last_updated: Date;
    deleted: boolean;
    content: Record<string, any> | null; // eslint-disable-line @typescript-eslint/no-explicit-any
    content_enc: Buffer | null;
    key_id: number | null;
  }>(`SELECT ${patientCol}, version_id, last_updated, deleted, content, content_enc, key_id FROM ${table} WHERE resource_type = $1 AND id = $2 ORDER BY version_id`, [type, id]);
  return rows;
}
