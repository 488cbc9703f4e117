import { Injectable } from '@nestjs/common';
import type { Endpoint, OperationOutcome } from '@medplum/fhirtypes';
import { KeyRing } from '../../crypto/key-ring';
import { DatabaseService, type Tx, type TxContext } from '../../database/database.service';
import { conflict, notFound } from '../../fhir/operation-outcome';
import { ResourceWriteService, prepare } from '../../fhir/write/resource-write.service';
import { ConnectionRepository, type ConnectionRow } from '../connection.repository';
import { RemoteClients } from '../remote-clients';
import { RemoteFhirError, type ConnectionAuth } from '../remote-fhir.client';
import { SyncRunRepository, type SyncRunRow } from '../sync-runs.repository';
import { judgeCapabilities, type CapabilitySummary } from './capability-summary';
import { endpointOf } from './connection-endpoint';
import type { ConnectionInput, ConnectionPatch } from './connection-request';
import { ConnectionSettingsRepository } from './connection-settings.repository';
import { connectionView } from './connection-view';
import { scrubError } from './secret-scrub';
import { newResourceId } from '../../fhir/store/resource-id';

/** The answer of POST /api/connections/{id}/check. */
export type CheckResult = { ok: true; at: string } & CapabilitySummary | { ok: false; at: string; outcome: OperationOutcome } & Partial<CapabilitySummary>;

const RECENT_RUNS = 10;
const RECENT_FAILURES = 20;

/**
 * Connections to external FHIR servers, as administrators manage them. A connection and its
 * Endpoint resource (same id) are written in one transaction through the one write path, so the
 * Endpoint always says what the connection is; secrets go to the table encrypted and never into
 * the Endpoint, a view, a log line or an error.
 */
@Injectable()
export class ConnectionsService {
  constructor(
    private readonly db: DatabaseService,
    private readonly writer: ResourceWriteService,
    private readonly connections: ConnectionRepository,
    private readonly settings: ConnectionSettingsRepository,
    private readonly runs: SyncRunRepository,
    private readonly clients: RemoteClients,
    private readonly keys: KeyRing,
  ) {}

  async create(ctx: TxContext, input: ConnectionInput): Promise<ConnectionRow> {
    if (await this.settings.nameTaken(input.name)) throw duplicateName(input.name);
    const id = newResourceId(); // the connection's Endpoint's id too
    try {
      await this.writer.inTransaction(ctx, async (tx) => {
        await this.refuseSecondOnBaseUrl(tx, input.baseUrl, id);
        await this.connections.insert(tx, { id, ...input }).catch((e: unknown) => {
          throw scrubError(e, [secretOf(input.auth), this.keys.dataKey()]);
        });
        await this.writer.createInTx(tx, prepare(endpointOf({ id, name: input.name, baseUrl: input.baseUrl, status: 'active' }), 'Endpoint', id));
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw duplicateName(input.name); // the same name created concurrently
      throw e;
    }
    return this.row(id);
  }

  async list(): Promise<Record<string, unknown>[]> {
    const rows = await this.connections.list();
    return Promise.all(rows.map((row) => this.viewOf(row)));
  }

  async view(id: string): Promise<Record<string, unknown>> {
    return this.viewOf(await this.row(id));
  }

  async viewOf(row: ConnectionRow): Promise<Record<string, unknown>> {
    const [runs, failures, deadLetters] = await Promise.all([this.runs.recent(row.id, RECENT_RUNS), this.connections.failures(row.id, RECENT_FAILURES), this.settings.deadLetters(row.id)]);
    return connectionView(row, { runs, failures, deadLetters });
  }

  /** Applies a merge patch; the Endpoint follows (name, address, status) in the same transaction. */
  async update(ctx: TxContext, id: string, patch: ConnectionPatch): Promise<ConnectionRow> {
    if (patch.name !== undefined && (await this.settings.nameTaken(patch.name, id))) throw duplicateName(patch.name);
    try {
      await this.writer.inTransaction(ctx, async (tx) => {
        if (!(await this.settings.lock(tx, id))) throw notFound(`No connection ${id}`);
        await this.settings.update(tx, id, patch).catch((e: unknown) => {
          throw scrubError(e, [patch.auth && secretOf(patch.auth), this.keys.dataKey()]);
        });
        const row = (await this.connections.get(id, tx)) as ConnectionRow;
        if (row.status === 'active' && (patch.baseUrl !== undefined || patch.status === 'active')) await this.refuseSecondOnBaseUrl(tx, row.baseUrl, id);
        const current = await this.writer.currentOf(tx, 'Endpoint', id);
        const previous = current && !current.deleted && current.json ? (JSON.parse(current.json) as Endpoint) : undefined;
        await this.writer.updateInTx(tx, prepare(endpointOf(row, previous), 'Endpoint', id), {});
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw duplicateName(patch.name ?? '');
      throw e;
    }
    return this.row(id);
  }

  /**
   * DELETE: the connection is turned off rather than removed, so its sync history, the mapping of
   * pulled resources to their remote ids (identity across servers) and its failures stay.
   */
  turnOff(ctx: TxContext, id: string): Promise<ConnectionRow> {
    return this.update(ctx, id, { status: 'off' });
  }

  /**
   * One active connection per remote: a second one to the same base URL would pull a second copy of
   * everything, under the same identifiers (the base URL is their system). 409, nothing stored.
   */
  private async refuseSecondOnBaseUrl(tx: Tx, baseUrl: string, id: string): Promise<void> {
    const other = await this.settings.activeOnBaseUrl(tx, baseUrl, id);
    if (other !== undefined) throw conflict(`Connection ${JSON.stringify(other)} already connects to ${baseUrl}: turn it off (DELETE) or change it instead of adding another`, 'duplicate');
  }

  /** Reads the remote's CapabilityStatement and records what it said, or the failure (direction 'check'). */
  async check(ctx: TxContext, id: string): Promise<CheckResult> {
    const found = await this.clients.forConnection(id);
    if (!found) throw notFound(`No connection ${id}`);
    let verdict: ReturnType<typeof judgeCapabilities>;
    try {
      verdict = judgeCapabilities(await found.client.capabilityStatement());
    } catch (e) {
      if (!(e instanceof RemoteFhirError)) throw e;
      verdict = { ok: false, outcome: e.outcome };
    }
    // The client cuts out the secret, the HTTP Basic pair and the access tokens it was given.
    const outcome = verdict.ok ? undefined : found.client.redact(verdict.outcome);
    const details: Record<string, unknown> = { ...(verdict.summary ?? {}), ...(outcome ? { outcome } : {}) };
    const at = await this.db.transaction(ctx, async (tx) => {
      const when = await this.settings.recordCheck(tx, id, verdict.ok, details);
      if (outcome) await this.connections.addFailure(tx, id, { direction: 'check', outcome, resource: 'metadata' });
      return when;
    });
    return { ok: verdict.ok, at: new Date(at).toISOString(), ...details } as CheckResult;
  }

  /** Asks for a pull now: a queued run, or the one already open. A connection that is off refuses. */
  async requestSync(ctx: TxContext, id: string): Promise<{ run: SyncRunRow; created: boolean }> {
    return this.db.transaction(ctx, async (tx) => {
      // Held until commit, so the connection cannot be turned off between the test and the request.
      if (!(await this.settings.lock(tx, id, 'SHARE'))) throw notFound(`No connection ${id}`);
      const row = (await this.connections.get(id, tx)) as ConnectionRow;
      if (row.status === 'off') throw conflict(`Connection ${row.name} is off: turn it on (PATCH {"status": "active"}) before syncing`);
      return this.runs.request(id, 'manual', tx);
    });
  }

  /** A sync run of the connection; 404 when it is another connection's. */
  async run(id: string, runId: string): Promise<SyncRunRow> {
    await this.row(id);
    const run = /^\d{1,15}$/.test(runId) ? await this.runs.get(Number(runId)) : undefined;
    if (!run || run.connectionId !== id) throw notFound(`No sync run ${runId} of connection ${id}`);
    return run;
  }

  async row(id: string): Promise<ConnectionRow> {
    const row = await this.connections.get(id);
    if (!row) throw notFound(`No connection ${id}`);
    return row;
  }

}

function secretOf(auth: ConnectionAuth): string | undefined {
  return auth.type === 'bearer' ? auth.token : auth.type === 'client_credentials' ? auth.clientSecret : undefined;
}

function duplicateName(name: string) {
  return conflict(`A connection named ${JSON.stringify(name)} already exists`, 'duplicate');
}

function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: string })?.code === '23505';
}
