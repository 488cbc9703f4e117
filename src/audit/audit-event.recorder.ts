import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Resource } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/app-config';
import { LOGGER } from '../core/core.module';
import { APP_CONFIG } from '../core/tokens';
import { DatabaseService } from '../database/database.service';
import { ResourceStore } from '../fhir/store/resource-store.repository';
import { SearchIndexWriter } from '../fhir/search/search-index.writer';
import { classify, toAuditEvent, type AuditRecord } from './audit-event';
import { patientsOfQuery, redactQuery } from './audit-query';
import { newResourceId } from '../fhir/store/resource-id';

declare module 'express' {
  interface Request {
    /** Set by a read, vread or instance history: the Patient whose record it is (`Patient/id`), named on the AuditEvent. */
    auditPatient?: string;
  }
}

/**
 * Records an AuditEvent resource for every request to the FHIR API, the clients API and the token
 * endpoint (reads, searches, writes, logins, failures), after the response. Events are buffered and
 * written together every few hundred milliseconds, straight into the resource store as resources of
 * no patient (so no patient token ever sees them), indexed for search, without events of their own. Row changes are
 * also recorded synchronously by the database's audit triggers; these are the FHIR view.
 */
@Injectable()
export class AuditEventRecorder implements OnApplicationShutdown {
  private buffer: AuditRecord[] = [];
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly db: DatabaseService,
    private readonly store: ResourceStore,
    private readonly searchIndex: SearchIndexWriter,
  ) {}

  /** Call when the response has been sent. */
  recordHttp(req: Request, res: Response): void {
    if (this.config.auditEvents === 'off') return;
    const path = req.path;
    const kind = classify(req.method, path);
    if (!kind) return;
    if (this.config.auditEvents === 'writes' && kind.action === 'R' && res.statusCode < 400) return;
    const body = req.body as { client_id?: unknown } | undefined;
    const loginClient = kind.interaction === 'login' && typeof body?.client_id === 'string' ? body.client_id : undefined;
    const q = req.originalUrl.indexOf('?');
    let query = q >= 0 ? req.originalUrl.slice(q + 1) : undefined;
    const search = kind.interaction.startsWith('search');
    // POST _search: the parameters are in the form body.
    if (search && req.method === 'POST' && body && typeof body === 'object') query = [query, formQuery(body as Record<string, unknown>)].filter(Boolean).join('&') || undefined;
    const patients = [
      ...(kind.patient ? [kind.patient] : []),
      ...(req.auditPatient ? [req.auditPatient] : []),
      ...(req.auth?.patient ? [`Patient/${req.auth.patient}`] : []), // a patient-context token reads only its own
      ...(search && query ? patientsOfQuery(query, kind.queryType ? [kind.queryType] : undefined) : []),
    ];
    const interaction = kind.interaction === 'transaction' && (body as { type?: unknown } | undefined)?.type === 'batch' ? 'batch' : kind.interaction;
    const { queryType, ...what } = kind;
    this.record({
      ...what,
      interaction,
      patient: patients.length ? patients : undefined,
      query: query ? redactQuery(query, queryType ? [queryType] : undefined) : undefined,
      status: res.statusCode,
      clientId: req.auth?.clientId ?? loginClient,
      address: req.clientAddress ?? req.ip,
      requestId: req.requestId,
      method: req.method,
      path,
      recorded: new Date(),
    });
  }

  record(r: AuditRecord): void {
    this.buffer.push(r);
    if (this.buffer.length >= 500) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), 200);
  }

  /** Writes what is buffered. Resolves when everything recorded so far is stored. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.flushing.then(async () => {
      if (!batch.length) return;
      try {
        const events: Resource[] = [];
        for (const r of batch) {
          // Built in slices: a flush of a few hundred events must not hold up the requests being served.
          if (events.length && events.length % 64 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
          events.push({ ...toAuditEvent(r, newResourceId(r.recorded.getTime())), meta: { versionId: '1', lastUpdated: r.recorded.toISOString() } });
        }
        await this.db.transaction({ actor: 'system:audit' }, async (tx) => {
          await this.store.writeVersions(
            tx,
            events.map((event, i) => ({
              version: { resourceType: 'AuditEvent', id: event.id as string, versionId: 1, lastUpdated: batch[i].recorded, deleted: false, patientId: null, json: JSON.stringify(event) },
              previousPatientId: undefined,
            })),
          );
          // Searchable by administrators, like any resource.
          await this.searchIndex.indexMany(tx, events.map((resource) => ({ resource, patientId: null, isNew: true })));
        });
      } catch (e) {
        this.logger.error({ err: e, events: batch.length }, 'could not store AuditEvents');
      }
    });
    return this.flushing;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }
}

/** A parsed form body back as a query string. */
function formQuery(body: Record<string, unknown>): string {
  return Object.entries(body)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${encodeURIComponent(k)}=${encodeURIComponent(String(x))}`))
    .join('&');
}
