import { Injectable } from '@nestjs/common';
import type { Flag, Reference } from '@medplum/fhirtypes';
import { AccessPolicy } from '../../auth/access/access-policy';
import type { AuthContext } from '../../auth/auth.types';
import { DatabaseService, type TxContext } from '../../database/database.service';
import { OperationOutcomeError, badRequest, conflict, forbidden, notFound } from '../../fhir/operation-outcome';
import {
  ALERT_ACKNOWLEDGEMENT_URL,
  ALERT_RESOLUTION_URL,
  alertState,
  decisionExtension,
  isEmergencyAlert,
  type AlertStatus,
} from '../../fhir/projection/mappers/alert-state';
import { fromTimestamp, num } from '../../fhir/projection/mappers/mapper-utils';
import { ResourceStore } from '../../fhir/store/resource-store.repository';
import { ResourceWriteService } from '../../fhir/write/resource-write.service';
import { percentiles, type Percentiles } from './response-times';
import { queryInstant } from '../query-instant';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const STATUSES = ['raised', 'acknowledged', 'resolved', 'open', 'all'] as const;
type StatusFilter = (typeof STATUSES)[number];
const DEFAULT_WINDOW_HOURS = 24 * 30;
const MAX_ITEMS = 500;

export interface AlertView {
  id: string;
  flag: string;
  patient: string;
  alert_type: string | null;
  status: AlertStatus;
  raised_at: string | null;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  resolved_at: string | null;
  resolved_by: string | null;
  seconds_to_acknowledge: number | null;
  seconds_to_resolve: number | null;
  geolocation: unknown;
}

export interface AlertList {
  status: StatusFilter;
  window: { from: string; to: string };
  counts: Record<AlertStatus, number>;
  /** Over every alert raised in the window (whatever the status filter): seconds from raised. */
  response_times: { time_to_acknowledge: Percentiles; time_to_resolve: Percentiles; method: string };
  count: number;
  items: AlertView[];
}

export type Decision = 'acknowledge' | 'resolve';

/**
 * Emergency alerts: acknowledging and resolving them (a Flag update through the write path,
 * conditional on the version read, so a concurrent second decision is refused with 409), and
 * listing them with response-time figures from the emergency_alerts projection.
 */
@Injectable()
export class AlertsService {
  constructor(
    private readonly db: DatabaseService,
    private readonly store: ResourceStore,
    private readonly writer: ResourceWriteService,
    private readonly policy: AccessPolicy,
  ) {}

  async decide(auth: AuthContext | undefined, ctx: TxContext, id: string, decision: Decision): Promise<AlertView> {
    const by = deciderOf(auth);
    // A decision reads the Flag and updates it: the token's scopes must grant both, as on /fhir/Flag.
    this.policy.require(auth, 'Flag', 'r');
    this.policy.requireWrite(auth, 'Flag', 'u');
    const found = await this.read(id);
    const refusal = refusalOf(found.flag, decision);
    if (refusal) throw conflict(refusal);
    const updated = decided(found.flag, decision, by, new Date().toISOString());
    try {
      await this.writer.update(ctx, 'Flag', id, updated, { ifMatch: `W/"${found.versionId}"` });
    } catch (e) {
      if (!(e instanceof OperationOutcomeError) || e.status !== 412) throw e;
      const now = await this.read(id);
      throw conflict(refusalOf(now.flag, decision) ?? `Flag/${id} changed while it was being decided; read it again`);
    }
    const [view] = await this.views('patient_id = ? AND id = ?', [found.patientId, id]);
    return view;
  }

  async list(auth: AuthContext | undefined, query: Record<string, unknown>): Promise<AlertList> {
    requireResponder(auth);
    // The listing is a search of Flags showing their content: a token narrowed below that sees nothing.
    this.policy.require(auth, 'Flag', 's');
    this.policy.require(auth, 'Flag', 'r');
    const status = parseStatus(query.status);
    const to = query.to === undefined ? new Date() : new Date(queryInstant(query.to, 'to'));
    const from = query.from === undefined ? new Date(to.getTime() - DEFAULT_WINDOW_HOURS * 3600_000) : new Date(queryInstant(query.from, 'from'));
    if (from > to) throw badRequest('from must not be after to', ['from']);
    const all = await this.views('created_at >= ? AND created_at <= ?', [from.toISOString(), to.toISOString()]);
    const counts: Record<AlertStatus, number> = { raised: 0, acknowledged: 0, resolved: 0 };
    for (const a of all) counts[a.status]++;
    const wanted = all.filter((a) => status === 'all' || a.status === status || (status === 'open' && a.status !== 'resolved'));
    const seconds = (k: 'seconds_to_acknowledge' | 'seconds_to_resolve') => all.map((a) => a[k]).filter((s): s is number => s !== null);
    return {
      status,
      window: { from: from.toISOString(), to: to.toISOString() },
      counts,
      response_times: {
        time_to_acknowledge: percentiles(seconds('seconds_to_acknowledge')),
        time_to_resolve: percentiles(seconds('seconds_to_resolve')),
        method: 'nearest-rank percentiles of seconds from period.start (raised) to acknowledgement / period.end (resolved), over alerts raised in the window',
      },
      count: Math.min(wanted.length, MAX_ITEMS),
      items: wanted.slice(0, MAX_ITEMS),
    };
  }

  private async read(id: string): Promise<{ flag: Flag; versionId: number; patientId: string }> {
    if (!FHIR_ID.test(id)) throw notFound(`No emergency alert ${id.slice(0, 64)}`);
    const current = await this.store.readCurrent('Flag', id);
    const flag = current && !current.deleted && current.json ? (JSON.parse(current.json) as Flag) : undefined;
    if (!current || !flag || !isEmergencyAlert(flag) || !current.patientId) throw notFound(`No emergency alert Flag/${id}`);
    return { flag, versionId: current.versionId, patientId: current.patientId };
  }

  private async views(where: string, params: unknown[]): Promise<AlertView[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT * FROM emergency_alerts WHERE ${where} ORDER BY created_at DESC NULLS LAST, id`,
      params,
    );
    return rows.map(view);
  }
}

/** Who may decide: a clinician bound to a Practitioner (recorded as them), or an administrator. */
function deciderOf(auth: AuthContext | undefined): Reference {
  requireResponder(auth);
  if (auth?.role === 'clinician') return { reference: `Practitioner/${auth.practitioner}` };
  return { display: `client ${auth?.clientId ?? 'unknown'}` };
}

function requireResponder(auth: AuthContext | undefined): void {
  if (auth?.role === 'clinician') {
    if (!auth.practitioner) throw forbidden('This clinician token is bound to no Practitioner');
    return;
  }
  if (auth?.role === 'admin' || auth?.scopes.includes('admin')) return;
  throw forbidden('Emergency alerts are handled by clinicians and administrators only');
}

/** Why this decision is not possible on this alert now (a 409), or undefined. */
export function refusalOf(flag: Flag, decision: Decision): string | undefined {
  const s = alertState(flag);
  const who = (d: { by?: Reference; at?: string } | undefined) => `${d?.by?.reference ?? d?.by?.display ?? 'someone'}${d?.at ? ` at ${d.at}` : ''}`;
  if (flag.status === 'entered-in-error') return `Flag/${flag.id} was entered in error`;
  if (s.status === 'resolved') return `Flag/${flag.id} was already resolved by ${who(s.resolved)}`;
  if (decision === 'acknowledge' && s.acknowledged) return `Flag/${flag.id} was already acknowledged by ${who(s.acknowledged)}`;
  return undefined;
}

/**
 * The Flag after a decision. Acknowledging adds the acknowledgement extension (status stays active);
 * resolving makes it inactive with period.end and the resolution extension, and acknowledges it at
 * the same moment if no one had (resolving an alert is responding to it).
 */
export function decided(flag: Flag, decision: Decision, by: Reference, at: string): Flag {
  const others = (flag.extension ?? []).filter((e) => e.url !== ALERT_RESOLUTION_URL);
  const hasAck = others.some((e) => e.url === ALERT_ACKNOWLEDGEMENT_URL);
  const extension = [...others, ...(hasAck ? [] : [decisionExtension(ALERT_ACKNOWLEDGEMENT_URL, { by, at })])];
  if (decision === 'acknowledge') return { ...flag, extension };
  return {
    ...flag,
    status: 'inactive',
    period: { ...flag.period, end: at },
    extension: [...extension, decisionExtension(ALERT_RESOLUTION_URL, { by, at })],
  };
}

function view(row: Record<string, unknown>): AlertView {
  return {
    id: String(row.id),
    flag: `Flag/${String(row.id)}`,
    patient: `Patient/${String(row.patient_id)}`,
    alert_type: (row.alert_type as string | null) ?? null,
    status: (row.response_status as AlertStatus) ?? 'raised',
    raised_at: fromTimestamp(row.created_at) ?? null,
    acknowledged_at: fromTimestamp(row.acknowledged_at) ?? null,
    acknowledged_by: (row.acknowledged_by as string | null) ?? null,
    resolved_at: fromTimestamp(row.resolved_at) ?? null,
    resolved_by: (row.resolved_by as string | null) ?? null,
    seconds_to_acknowledge: num(row.seconds_to_acknowledge) ?? null,
    seconds_to_resolve: num(row.seconds_to_resolve) ?? null,
    geolocation: row.geolocation ?? null,
  };
}

function parseStatus(value: unknown): StatusFilter {
  if (value === undefined) return 'all';
  if (typeof value !== 'string' || !STATUSES.includes(value as StatusFilter)) throw badRequest(`status must be one of ${STATUSES.join(', ')}`, ['status']);
  return value as StatusFilter;
}

