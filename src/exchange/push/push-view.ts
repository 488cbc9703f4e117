import type { PushRow } from './push.repository';

/** A push as the administrators' API shows it (the dead-letter list and the push log). Pure. */
export function pushView(row: PushRow): Record<string, unknown> {
  return {
    id: String(row.id),
    connection: row.connectionId,
    resource: `${row.resourceType}/${row.resourceId}/_history/${row.versionId}`,
    ...(row.patientId ? { patient: `Patient/${row.patientId}` } : {}),
    status: row.status,
    attempts: row.attempts,
    replays: row.replays,
    lastError: row.lastError,
    remoteLocations: row.remoteLocations ?? [],
    created: row.createdAt.toISOString(),
    updated: row.updatedAt.toISOString(),
    sent: row.sentAt ? row.sentAt.toISOString() : null,
  };
}
