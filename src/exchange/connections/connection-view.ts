import type { ConnectionRow, FailureRow } from '../connection.repository';
import type { SyncRunRow } from '../sync-runs.repository';

/** What the connection's view is made of besides its row. */
export interface ConnectionDetails {
  /** Most recent sync runs, newest first. */
  runs: SyncRunRow[];
  /** Most recent failures, newest first. */
  failures: FailureRow[];
  /** exchange_push rows of the connection in the dead-letter list. */
  deadLetters: number;
}

/**
 * A connection as the administrators' API shows it. Built from columns that hold no secret:
 * `auth.secretStored` says whether a token or client secret is kept, never what it is. Pure.
 */
export function connectionView(c: ConnectionRow, d: ConnectionDetails): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    baseUrl: c.baseUrl,
    endpoint: `Endpoint/${c.id}`,
    status: c.status,
    auth: authView(c),
    resourceTypes: c.resourceTypes,
    syncIntervalSeconds: c.syncIntervalSeconds,
    lastCheck: c.lastCheckAt ? { ...(c.lastCheck ?? {}), at: iso(c.lastCheckAt), ok: c.lastCheckOk === true } : null,
    lastSync: d.runs[0] ? runView(d.runs[0]) : null,
    counts: { resourcesIn: c.resourcesIn, resourcesOut: c.resourcesOut, failures: c.failures },
    deadLetters: d.deadLetters,
    recentFailures: d.failures.map(failureView),
    recentRuns: d.runs.map(runView),
    created: iso(c.createdAt),
    updated: iso(c.updatedAt),
  };
}

export function authView(c: Pick<ConnectionRow, 'authType' | 'tokenUrl' | 'clientId' | 'scope'>): Record<string, unknown> {
  if (c.authType === 'client_credentials') return { type: c.authType, tokenUrl: c.tokenUrl, clientId: c.clientId, scope: c.scope, secretStored: true };
  // The table's CHECK keeps a secret for every type but 'none'.
  return { type: c.authType, secretStored: c.authType === 'bearer' };
}

/** One sync run. */
export function runView(r: SyncRunRow): Record<string, unknown> {
  return {
    id: r.id,
    connection: r.connectionId,
    status: r.status,
    trigger: r.trigger,
    requested: iso(r.createdAt),
    started: r.startedAt ? iso(r.startedAt) : null,
    finished: r.finishedAt ? iso(r.finishedAt) : null,
    resourcesIn: r.resourcesIn,
    unchanged: r.unchanged,
    failed: r.failed,
    deleted: r.deleted,
    error: r.error,
  };
}

export function failureView(f: FailureRow): Record<string, unknown> {
  return { id: f.id, direction: f.direction, at: iso(f.at), runId: f.runId, pushId: f.pushId, resource: f.resource, outcome: f.outcome };
}

/** Timestamps arrive as Dates from pg, but a JSON round trip (or another driver setting) gives strings. */
function iso(d: Date | string): string {
  return new Date(d).toISOString();
}
