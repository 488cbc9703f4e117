import { Inject, Injectable } from '@nestjs/common';
import type { Task } from '@medplum/fhirtypes';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { AccessPolicy } from '../auth/access/access-policy';
import type { AuthContext } from '../auth/auth.types';
import type { TxContext } from '../database/database.service';
import { OperationOutcomeError, badRequest, conflict, forbidden, notFound } from '../fhir/operation-outcome';
import { localRefId } from '../fhir/projection/mappers/mapper-utils';
import { ResourceStore } from '../fhir/store/resource-store.repository';
import { ResourceWriteService, prepare } from '../fhir/write/resource-write.service';
import { ClinicianPatients } from './clinician-patients.service';
import { decidedTask, decisionReason, type Decision } from './recommendation-decision';
import { RecommendationAudit, type Caller } from './recommendation-audit';
import { RecommendationReader } from './recommendation.reader';
import { RecommendationTaskRule } from './recommendation-task.rule';
import { TASK_STATUSES, type RecommendationStatus, type RecommendationView } from './recommendation-view';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const DEFAULT_COUNT = 50;
const STATUSES = ['pending', 'approved', 'rejected', 'all'] as const;

export interface ListQuery {
  status?: unknown;
  patient?: unknown;
  _count?: unknown;
  _cursor?: unknown;
}

export interface ListResult {
  status: (typeof STATUSES)[number];
  patient?: string;
  total?: number;
  count: number;
  items: RecommendationView[];
  /** The query string of the next page (for GET /api/recommendations?...). */
  next?: string;
  warnings?: string[];
}

/** Who is looking: an administrator sees every patient's recommendations, a clinician their patients'. */
type Viewer = { kind: 'all' } | { kind: 'clinician'; practitionerId: string };

/**
 * Clinicians' recommendations: listing them (each with its model version, confidence, inputs and
 * why it was raised) and deciding them. A decision is a Task update through the one write path,
 * conditional on the version read, so a second or concurrent decision is refused, never applied.
 */
@Injectable()
export class RecommendationsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly reader: RecommendationReader,
    private readonly patients: ClinicianPatients,
    private readonly writer: ResourceWriteService,
    private readonly store: ResourceStore,
    private readonly audit: RecommendationAudit,
    private readonly rule: RecommendationTaskRule,
    private readonly policy: AccessPolicy,
  ) {}

  async list(auth: AuthContext | undefined, query: ListQuery): Promise<ListResult> {
    const viewer = this.viewer(auth);
    this.requireReading(auth, true);
    const status = parseStatus(query.status);
    const count = this.parseCount(query._count);
    const cursor = optionalString(query._cursor, '_cursor');
    const patientId = query.patient === undefined ? undefined : parsePatient(query.patient);
    const warnings: string[] = [];

    let patientIds: string[] | undefined;
    if (patientId !== undefined) {
      await this.requirePatient(viewer, patientId);
      patientIds = [patientId];
    } else if (viewer.kind === 'clinician') {
      const mine = await this.patients.patientsOf(viewer.practitionerId);
      if (mine.capped) warnings.push(`Only the first ${mine.ids.length} of the clinician's patients are considered`);
      patientIds = mine.ids;
    }
    const base = { status, ...(patientId ? { patient: `Patient/${patientId}` } : {}) };
    if (patientIds && !patientIds.length) return { ...base, total: 0, count: 0, items: [], ...(warnings.length ? { warnings } : {}) };

    const params: Array<[string, string]> = [];
    if (status !== 'all') params.push(['status', TASK_STATUSES[status].join(',')]);
    if (patientIds) params.push(['patient', patientIds.map((id) => `Patient/${id}`).join(',')]);
    const page = await this.reader.page(params, count, cursor);
    const items = await this.reader.views(page.tasks, this.readableBy(auth));
    const next = page.next ? new URLSearchParams({ status, ...(patientId ? { patient: `Patient/${patientId}` } : {}), _count: String(count), _cursor: page.next }).toString() : undefined;
    return { ...base, ...(page.total !== undefined ? { total: page.total } : {}), count: items.length, items, ...(next ? { next } : {}), ...(warnings.length ? { warnings } : {}) };
  }

  async get(auth: AuthContext | undefined, id: string): Promise<RecommendationView> {
    const viewer = this.viewer(auth);
    this.requireReading(auth, false);
    const found = await this.readRecommendation(id);
    await this.requirePatient(viewer, patientOf(found.task));
    const [view] = await this.reader.views([found.task], this.readableBy(auth));
    return view;
  }

  /** A clinician approves or rejects a pending recommendation of one of their patients. */
  async decide(auth: AuthContext | undefined, caller: Caller, ctx: TxContext, id: string, decision: Decision, body: unknown): Promise<RecommendationView> {
    if (auth?.role !== 'clinician') throw forbidden('Only clinicians approve or reject recommendations');
    const practitionerId = auth.practitioner;
    if (!practitionerId) throw forbidden('This clinician token is bound to no Practitioner');
    // Deciding reads the Task and its RiskAssessment and updates the Task, as PUT /fhir/Task would.
    this.requireReading(auth, false);
    this.policy.requireWrite(auth, 'Task', 'u');
    const reason = decisionReason(decision, body);
    const found = await this.readRecommendation(id);
    const patientId = patientOf(found.task);
    await this.requirePatient({ kind: 'clinician', practitionerId }, patientId);
    if (found.task.status !== 'requested') throw alreadyDecided(found.task);

    const updated = decidedTask(found.task, decision, practitionerId, reason, new Date());
    let written: Task;
    try {
      // Conditional on the version read: of two decisions at once, the second finds a newer version.
      // The write rule on recommendation Tasks lets this transaction, and only it, decide this one.
      const task = prepare(updated, 'Task', id);
      const status = decision === 'approve' ? 'accepted' : 'rejected';
      const outcome = await this.writer.inTransaction(ctx, (tx) => {
        this.rule.permitDecision(tx, id, status);
        return this.writer.updateInTx(tx, task, { ifMatch: `W/"${found.versionId}"` });
      });
      written = outcome.resource as Task;
    } catch (e) {
      if (!(e instanceof OperationOutcomeError) || e.status !== 412) throw e;
      const now = await this.reader.readTask(id);
      if (now && now.task.status !== 'requested') throw alreadyDecided(now.task);
      throw conflict(`Recommendation ${id} changed while it was being decided; read it again and decide again`);
    }
    this.audit.record(caller, {
      interaction: 'update',
      action: 'U',
      status: 200,
      method: 'POST',
      entity: `Task/${id}`,
      patient: `Patient/${patientId}`,
      agentRef: `Practitioner/${practitionerId}`,
      details: [
        { type: 'decision', value: decision === 'approve' ? 'approved' : 'rejected' },
        ...(reason ? [{ type: 'reason', value: reason }] : []),
        ...(localRefId(found.task.requester, 'Device') ? [{ type: 'model', value: `Device/${localRefId(found.task.requester, 'Device')}` }] : []),
      ],
    });
    const [view] = await this.reader.views([written], this.readableBy(auth));
    return view;
  }

  /** The pending recommendations of one patient, with their Tasks (for CDS Hooks cards), most urgent first. */
  async pendingFor(auth: AuthContext | undefined, patientId: string, limit = 100): Promise<Array<{ task: Task; view: RecommendationView }>> {
    const viewer: Viewer = auth?.role === 'clinician' && auth.practitioner ? { kind: 'clinician', practitionerId: auth.practitioner } : { kind: 'all' };
    this.requireReading(auth, true);
    await this.requirePatient(viewer, patientId);
    const page = await this.reader.page([['status', TASK_STATUSES.pending.join(',')], ['patient', `Patient/${patientId}`]], limit);
    const views = await this.reader.views(page.tasks, this.readableBy(auth));
    return page.tasks.map((task, i) => ({ task, view: views[i] }));
  }

  /** A recommendation Task by id; 404 when there is none. */
  async readRecommendation(id: string): Promise<{ task: Task; versionId: number }> {
    if (!FHIR_ID.test(id)) throw notFound(`No recommendation ${id.slice(0, 64)}`);
    const found = await this.reader.readTask(id);
    if (!found) throw notFound(`No recommendation ${id}`);
    return found;
  }

  /** Whether a clinician may act for this patient (the rule in ClinicianPatients); 403 otherwise. */
  async requireClinicianPatient(practitionerId: string, patientId: string): Promise<void> {
    await this.requirePatient({ kind: 'clinician', practitionerId }, patientId);
  }

  private viewer(auth: AuthContext | undefined): Viewer {
    if (auth?.scopes.includes('admin')) return { kind: 'all' };
    if (auth?.role === 'clinician') {
      if (!auth.practitioner) throw forbidden('This clinician token is bound to no Practitioner');
      return { kind: 'clinician', practitionerId: auth.practitioner };
    }
    throw forbidden('Recommendations are listed for clinicians (their patients) and administrators only');
  }

  /**
   * A recommendation is a Task about a RiskAssessment: showing one needs the token's scopes to grant
   * reading both (and searching Tasks for a listing), as /fhir/Task and /fhir/RiskAssessment would; a
   * token narrowed below that gets 403 whatever its role.
   */
  private requireReading(auth: AuthContext | undefined, listing: boolean): void {
    this.policy.require(auth, 'Task', 'r');
    if (listing) this.policy.require(auth, 'Task', 's');
    this.policy.require(auth, 'RiskAssessment', 'r');
  }

  /** Which input types the view may show the content of (others are named only, by reference). */
  private readableBy(auth: AuthContext | undefined): (resourceType: string) => boolean {
    return (resourceType) => this.policy.allows(auth, resourceType, 'r');
  }

  /** The patient exists (404) and, for a clinician, is theirs (403). */
  private async requirePatient(viewer: Viewer, patientId: string | undefined): Promise<void> {
    if (!patientId) throw forbidden('The recommendation is about no local Patient');
    const patient = await this.store.readCurrent('Patient', patientId);
    if (!patient || patient.deleted) throw notFound(`Patient/${patientId} does not exist`);
    if (viewer.kind === 'clinician' && !(await this.patients.isPatientOf(viewer.practitionerId, patientId))) {
      throw forbidden(`Patient/${patientId} is not one of this clinician's patients (general practitioner, encounter participant or care team member)`);
    }
  }

  private parseCount(value: unknown): number {
    if (value === undefined) return DEFAULT_COUNT;
    const text = optionalString(value, '_count');
    const n = text !== undefined && /^\d{1,6}$/.test(text) ? Number(text) : NaN;
    if (!(n >= 1 && n <= this.config.searchMaxCount)) throw badRequest(`_count must be a whole number from 1 to ${this.config.searchMaxCount}`, ['_count']);
    return n;
  }
}

function parseStatus(value: unknown): ListResult['status'] {
  if (value === undefined) return 'pending';
  const text = optionalString(value, 'status');
  if (!STATUSES.includes(text as (typeof STATUSES)[number])) throw badRequest(`status must be one of ${STATUSES.join(', ')}`, ['status']);
  return text as RecommendationStatus | 'all';
}

function parsePatient(value: unknown): string {
  const text = optionalString(value, 'patient') ?? '';
  const m = /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/.exec(text);
  if (!m) throw badRequest('patient must be a Patient reference such as "Patient/123"', ['patient']);
  return m[1];
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`${name} must be given once`, [name]);
  return value;
}

function patientOf(task: Task): string | undefined {
  return localRefId(task.for, 'Patient');
}

function alreadyDecided(task: Task): OperationOutcomeError {
  const by = task.owner?.reference ? ` by ${task.owner.reference}` : '';
  const at = task.lastModified ? ` at ${task.lastModified}` : '';
  return conflict(`Recommendation ${task.id} is already decided (${task.status}${by}${at})`);
}
