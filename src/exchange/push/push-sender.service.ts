import { Inject, Injectable } from '@nestjs/common';
import type { Bundle, OperationOutcome, Resource, RiskAssessment, Task } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { AppConfig } from '../../config/app-config';
import { LOGGER } from '../../core/core.module';
import { APP_CONFIG } from '../../core/tokens';
import { DatabaseService } from '../../database/database.service';
import { collectReferences } from '../../fhir/references/reference-rewriter';
import { SearchService } from '../../fhir/search/search.service';
import { ResourceStore } from '../../fhir/store/resource-store.repository';
import { ConnectionRepository } from '../connection.repository';
import { RemoteClients } from '../remote-clients';
import { RemoteFhirError, outcomeOf, type RemoteFhirClient } from '../remote-fhir.client';
import { buildPushBundle, type LocalResource } from './push-bundle';
import { transactionResponseProblem } from './transaction-response';
import { ourSystem } from './push-identity';
import { PushRepository, type PushRow } from './push.repository';
import { assessmentOf, deviceOf } from './push-rules';

export type PushResult =
  | { status: 'sent'; locations: string[]; created: number }
  | { status: 'dead'; reason: string }
  | { status: 'skipped'; reason: string };

const LOCAL_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** A failure no retry can fix (the connection is off, the resource is gone): straight to the dead-letter list. */
class PermanentPushFailure extends Error {
  constructor(readonly outcome: OperationOutcome) {
    super(outcome.issue?.[0]?.diagnostics ?? 'push failed');
  }
}

/**
 * Sends one push row to its connection as a transaction Bundle (built by buildPushBundle from the
 * stored versions). Idempotent: the row is re-read first and only a pending row is sent, and
 * every entry is a conditional create (a later version: a conditional update) on our identity, so a job run twice creates nothing twice
 * on the remote. A transient failure (no answer, 408, 429, 5xx) is recorded on the row and thrown
 * for BullMQ to retry with backoff; a permanent one (another 4xx, a refused address), or the last
 * attempt, makes the row dead (the dead-letter list) with a failure row holding its OperationOutcome.
 */
@Injectable()
export class PushSender {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly db: DatabaseService,
    private readonly store: ResourceStore,
    private readonly search: SearchService,
    private readonly pushes: PushRepository,
    private readonly connections: ConnectionRepository,
    private readonly clients: RemoteClients,
  ) {}

  /** One attempt; `last`: no retry follows a transient failure. Throws to ask BullMQ for a retry. */
  async send(pushId: number, last: boolean): Promise<PushResult> {
    const row = await this.pushes.get(pushId);
    if (!row) return { status: 'skipped', reason: `push ${pushId} no longer exists` };
    if (row.status !== 'pending') return { status: 'skipped', reason: `push ${pushId} is already ${row.status}` };
    const remote = await this.clients.forConnection(row.connectionId);
    if (!remote) return { status: 'skipped', reason: `connection ${row.connectionId} no longer exists` };

    let response: Bundle;
    try {
      if (remote.connection.status !== 'active') throw new PermanentPushFailure(outcomeOf('business-rule', `Connection ${row.connectionId} is off; nothing is sent to it`));
      const bundle = await this.bundleFor(row);
      response = await remote.client.transaction(bundle);
      const problem = transactionResponseProblem(bundle, response);
      // Not what R4 promises for a transaction: whatever the remote did cannot be read; tried again (conditional creates and updates on our identity make that safe), then dead-lettered.
      if (problem) {
        const message = remote.client.scrub(`POST transaction answered an invalid transaction-response: ${problem}`);
        throw new RemoteFhirError(message, undefined, true, outcomeOf('structure', message));
      }
    } catch (err) {
      return this.failed(row, err, last, remote.client);
    }
    const locations = (response.entry ?? []).map((e) => e.response?.location).filter((l): l is string => typeof l === 'string');
    const created = (response.entry ?? []).filter((e) => e.response?.status?.startsWith('201')).length;
    const done = await this.pushes.locked(row.id, async (tx, now) => {
      if (now?.status !== 'pending') return false;
      await this.pushes.markSent(tx, row.id, locations);
      await this.connections.addCounts(tx, row.connectionId, { out: created });
      return true;
    });
    if (!done) return { status: 'skipped', reason: `push ${pushId} changed while it was sent` };
    this.logger.debug({ pushId, connection: row.connectionId, resource: resourceOf(row), created }, 'exchange push sent');
    return { status: 'sent', locations, created };
  }

  /** The transaction Bundle for a push row: the model's Device, the RiskAssessment and its Provenance, and the Task for a recommendation. */
  async bundleFor(row: PushRow): Promise<Bundle> {
    const version = await this.store.readVersion(row.resourceType, row.resourceId, row.versionId);
    if (!version?.json || version.deleted) throw new PermanentPushFailure(outcomeOf('not-found', `${resourceOf(row)} no longer exists here`));
    const resource = { ...(JSON.parse(version.json) as Resource), id: row.resourceId } as LocalResource;
    let assessment: (RiskAssessment & { id: string }) | undefined;
    if (resource.resourceType === 'RiskAssessment') assessment = resource as RiskAssessment & { id: string };
    else if (resource.resourceType === 'Task') {
      const raId = assessmentOf(resource as Task);
      assessment = raId ? ((await this.current('RiskAssessment', raId)) as (RiskAssessment & { id: string }) | undefined) : undefined;
    }
    const resources: LocalResource[] = [];
    const namedOnly = new Set<string>();
    if (assessment) {
      const deviceId = deviceOf(assessment);
      const device = deviceId ? await this.current('Device', deviceId) : undefined;
      if (device) resources.push(device);
      if (device) namedOnly.add(`Device/${device.id}`);
      resources.push(assessment);
      resources.push(...(await this.provenancesOf(`RiskAssessment/${assessment.id}`)));
    }
    if (resource.resourceType !== 'RiskAssessment') resources.push(resource);

    const refs = new Map<string, { resourceType: string; id: string }>();
    for (const r of resources) {
      for (const { reference } of collectReferences(r)) {
        const m = LOCAL_REF.exec(reference);
        if (m) refs.set(`${m[1]}/${m[2]}`, { resourceType: m[1], id: m[2] });
      }
    }
    const remoteIds = await this.pushes.remoteIds(row.connectionId, [...refs.values()]);
    return buildPushBundle({ system: ourSystem(this.config), resources, remoteIds, namedOnly });
  }

  /** Records a failed attempt; whatever is stored or logged is scrubbed of the connection's secrets by its client. */
  private async failed(row: PushRow, err: unknown, last: boolean, client: Pick<RemoteFhirClient, 'redact' | 'scrub'>): Promise<PushResult> {
    const permanent = err instanceof PermanentPushFailure || (err instanceof RemoteFhirError && !err.transient);
    const outcome = client.redact(
      err instanceof PermanentPushFailure || err instanceof RemoteFhirError ? err.outcome : outcomeOf('exception', `Sending ${resourceOf(row)} failed: ${(err as Error)?.message ?? String(err)}`),
    );
    const dead = permanent || last;
    await this.pushes.locked(row.id, async (tx, now) => {
      if (now?.status !== 'pending') return;
      await this.pushes.markFailed(tx, row.id, outcome, dead);
      if (dead) await this.connections.addFailure(tx, row.connectionId, { direction: 'push', outcome, pushId: row.id, resource: resourceOf(row) });
    });
    const reason = client.scrub((err as Error)?.message ?? String(err));
    this.logger.warn({ pushId: row.id, connection: row.connectionId, resource: resourceOf(row), dead, reason }, dead ? 'exchange push dead-lettered' : 'exchange push failed; retried');
    if (!dead) throw err instanceof RemoteFhirError ? err : new Error(reason);
    return { status: 'dead', reason };
  }

  private async current(resourceType: string, id: string): Promise<LocalResource | undefined> {
    const v = await this.store.readCurrent(resourceType, id);
    return v?.json && !v.deleted ? ({ ...(JSON.parse(v.json) as Resource), id } as LocalResource) : undefined;
  }

  /** The Provenance resources whose target is the resource. */
  private async provenancesOf(reference: string): Promise<LocalResource[]> {
    const ids = await this.search.matchIds(this.db, 'Provenance', `target=${encodeURIComponent(reference)}`, 20);
    const found = await this.store.readCurrentMany(ids.map((id) => ({ resourceType: 'Provenance', id })));
    return ids
      .sort()
      .map((id) => found.get(`Provenance/${id}`))
      .filter((v) => v?.json && !v.deleted)
      .map((v) => ({ ...(JSON.parse(v?.json as string) as Resource), id: v?.id as string }) as LocalResource);
  }
}

function resourceOf(row: Pick<PushRow, 'resourceType' | 'resourceId' | 'versionId'>): string {
  return `${row.resourceType}/${row.resourceId}/_history/${row.versionId}`;
}
