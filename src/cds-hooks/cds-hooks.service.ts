import { Injectable } from '@nestjs/common';
import type { Task } from '@medplum/fhirtypes';
import type { AuthContext } from '../auth/auth.types';
import type { TxContext } from '../database/database.service';
import { badRequest, conflict, forbidden, notFound, OperationOutcomeError } from '../fhir/operation-outcome';
import { localRefId } from '../fhir/projection/mappers/mapper-utils';
import { ResourceStore } from '../fhir/store/resource-store.repository';
import { RecommendationAudit, type Caller } from '../recommendations/recommendation-audit';
import type { Decision } from '../recommendations/recommendation-decision';
import { RecommendationsService } from '../recommendations/recommendations.service';
import { cardsOf, cardUuid, suggestionUuid, type Card } from './cds-cards';
import { CdsFhirServerRepository } from './cds-fhir-server.repository';
import { normalFhirBase, parseFeedback, parseHookRequest, type FeedbackEntry, type HookRequest } from './cds-request';
import { CDS_SERVICES, type CdsServiceDefinition } from './cds-services';

/** Who may call the CDS services: EHR systems and clinicians (with this server's bearer tokens). */
const CDS_ROLES = ['ehr-system', 'clinician'];

interface ResolvedFeedback {
  entry: FeedbackEntry;
  task: Task;
  patientId: string;
  /** What a clinician's feedback decides, if anything. */
  decision?: Decision;
}

/**
 * CDS Hooks over the clinicians' recommendations: discovery, the patient-view hook (one card per
 * pending recommendation) and feedback. Feedback is always recorded as an AuditEvent; it decides a
 * recommendation only when a clinician's token sends it (an EHR system's word alone never does).
 */
@Injectable()
export class CdsHooksService {
  constructor(
    private readonly recommendations: RecommendationsService,
    private readonly store: ResourceStore,
    private readonly audit: RecommendationAudit,
    private readonly fhirServers: CdsFhirServerRepository,
  ) {}

  discovery(auth: AuthContext | undefined): { services: CdsServiceDefinition[] } {
    requireCdsCaller(auth);
    return { services: [...CDS_SERVICES] };
  }

  /** `ownBase`: this server's FHIR base URL as clients reach it (a fhirServer equal to it names this server's ids). */
  async call(auth: AuthContext | undefined, caller: Caller, serviceId: string, body: unknown, ownBase: string): Promise<{ cards: Card[] }> {
    requireCdsCaller(auth);
    const service = serviceOf(serviceId);
    const request = parseHookRequest(body, service);
    const { userId, patientId } = await this.localContext(request, ownBase);
    if (auth?.role === 'clinician' && userId !== `Practitioner/${auth.practitioner}`) {
      throw forbidden(`context.userId (${userId}) is not this clinician token's Practitioner/${auth.practitioner}`);
    }
    const patient = await this.store.readCurrent('Patient', patientId);
    // 412 as the specification puts it: the service cannot get the data it needs for this patient.
    if (!patient || patient.deleted) throw OperationOutcomeError.of(412, 'not-found', `Patient/${patientId} is not known to this server, so it holds no recommendations for it`);
    const pending = await this.recommendations.pendingFor(auth, patientId);
    const cards = cardsOf(pending, userId, new Date());
    this.audit.record(caller, {
      interaction: 'operation',
      action: 'E',
      status: 200,
      method: 'POST',
      entity: `Patient/${patientId}`,
      patient: `Patient/${patientId}`,
      details: [
        { type: 'hook', value: service.hook },
        { type: 'hookInstance', value: request.hookInstance },
        ...(request.fhirServer ? [{ type: 'fhirServer', value: request.fhirServer }] : []),
        { type: 'userId', value: userId },
        { type: 'cards', value: String(cards.length) },
      ],
    });
    return { cards };
  }

  /**
   * The context's ids in this server's terms. The CDS Hooks context names resources of the client's
   * fhirServer: this server's own ids when it is this server (or not given), an EHR's ids when it is
   * a connection's base URL, translated through what was pulled from it. Any other server's ids mean
   * nothing here (taken as ours, they could name another patient): 412.
   */
  private async localContext(request: HookRequest, ownBase: string): Promise<{ userId: string; patientId: string }> {
    const { userId, patientId } = request.context;
    if (!request.fhirServer) return { userId, patientId };
    const server = normalFhirBase(request.fhirServer);
    if (server === normalFhirBase(ownBase)) return { userId, patientId };
    const connection = await this.fhirServers.connectionAt(server);
    if (!connection) {
      throw OperationOutcomeError.of(
        412,
        'not-found',
        `fhirServer ${server} is neither this server (${ownBase}) nor the base URL of a connected EHR (/api/connections): its Patient/${patientId} is not a patient of this server`,
      );
    }
    const localPatient = await this.fhirServers.localId(connection, 'Patient', patientId);
    if (!localPatient) throw OperationOutcomeError.of(412, 'not-found', `Patient/${patientId} of ${server} has not been pulled from that EHR, so this server holds no recommendations for it`);
    // The user is named as the EHR knows them; their local copy when one was pulled.
    const [type, id] = userId.split('/');
    const localUser = await this.fhirServers.localId(connection, type, id);
    return { userId: localUser ? `${type}/${localUser}` : userId, patientId: localPatient };
  }

  /** Records the EHR's feedback; a clinician's accepted suggestion also approves or rejects. All checked before anything is done. */
  async feedback(auth: AuthContext | undefined, caller: Caller, ctx: TxContext, serviceId: string, body: unknown): Promise<Record<string, never>> {
    requireCdsCaller(auth);
    const service = serviceOf(serviceId);
    const entries = parseFeedback(body);
    const resolved: ResolvedFeedback[] = [];
    for (const [i, entry] of entries.entries()) resolved.push(await this.resolve(auth, entry, i));

    for (const r of resolved) {
      if (r.decision && r.task.status === 'requested') {
        const reason = r.decision === 'reject' ? (r.entry.overrideReason?.userComment?.trim() || r.entry.overrideReason?.reason?.display || 'Rejected in the EHR through its CDS Hooks card') : undefined;
        await this.recommendations.decide(auth, caller, ctx, r.task.id as string, r.decision, reason ? { reason } : {});
      }
      this.audit.record(caller, {
        interaction: 'operation',
        action: 'E',
        status: 200,
        method: 'POST',
        entity: `Task/${r.task.id}`,
        patient: `Patient/${r.patientId}`,
        ...(auth?.role === 'clinician' ? { agentRef: `Practitioner/${auth.practitioner}` } : {}),
        details: [
          { type: 'cds-feedback-outcome', value: r.entry.outcome },
          { type: 'card', value: r.entry.card },
          { type: 'outcomeTimestamp', value: r.entry.outcomeTimestamp },
          ...r.entry.acceptedSuggestions.map((id) => ({ type: 'acceptedSuggestion', value: id === suggestionUuid(r.task.id as string, 'approve') ? `${id} (Accept)` : `${id} (Reject)` })),
          ...(r.entry.overrideReason?.reason ? [{ type: 'overrideReason', value: `${r.entry.overrideReason.reason.system ?? ''}|${r.entry.overrideReason.reason.code}` }] : []),
          ...(r.entry.overrideReason?.userComment ? [{ type: 'userComment', value: r.entry.overrideReason.userComment }] : []),
          ...(r.decision ? [{ type: 'decision', value: r.decision === 'approve' ? 'approved' : 'rejected' }] : []),
        ],
      });
    }
    return {};
  }

  /** The card's Task, checked: a recommendation, the caller's to see, and a consistent decision. */
  private async resolve(auth: AuthContext | undefined, entry: FeedbackEntry, i: number): Promise<ResolvedFeedback> {
    const at = `feedback[${i}]`;
    const task = await this.taskOfCard(entry.card);
    if (!task) throw badRequest(`${at}.card ${entry.card} is not a card of this service`, [`${at}.card`]);
    const patientId = localRefId(task.for, 'Patient');
    if (!patientId) throw badRequest(`${at}.card ${entry.card} is about no local Patient`, [`${at}.card`]);
    const ids = { approve: suggestionUuid(task.id as string, 'approve'), reject: suggestionUuid(task.id as string, 'reject') };
    const unknown = entry.acceptedSuggestions.find((s) => s !== ids.approve && s !== ids.reject);
    if (unknown) throw badRequest(`${at}.acceptedSuggestions: ${unknown} is not a suggestion of card ${entry.card}`, [`${at}.acceptedSuggestions`]);
    if (entry.acceptedSuggestions.includes(ids.approve) && entry.acceptedSuggestions.includes(ids.reject)) {
      throw badRequest(`${at}.acceptedSuggestions: Accept and Reject of one card cannot both be accepted (selectionBehavior at-most-one)`, [`${at}.acceptedSuggestions`]);
    }
    if (auth?.role !== 'clinician') return { entry, task, patientId };
    await this.recommendations.requireClinicianPatient(auth.practitioner as string, patientId);
    const decision: Decision | undefined = entry.acceptedSuggestions.includes(ids.approve) ? 'approve' : entry.acceptedSuggestions.includes(ids.reject) ? 'reject' : undefined;
    if (decision && task.status !== 'requested') {
      const wanted = decision === 'approve' ? 'accepted' : 'rejected';
      // Already decided the same way (through the API, or earlier feedback): the same decision again is no conflict.
      if (task.status !== wanted) throw conflict(`Recommendation ${task.id} is already decided (${task.status}${task.owner?.reference ? ` by ${task.owner.reference}` : ''})`);
    }
    return { entry, task, patientId, ...(decision ? { decision } : {}) };
  }

  private async taskOfCard(card: string): Promise<Task | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(card)) return undefined;
    try {
      const found = await this.recommendations.readRecommendation(card.toLowerCase());
      return cardUuid(found.task.id as string) === card.toLowerCase() ? found.task : undefined;
    } catch (e) {
      if (e instanceof OperationOutcomeError && e.status === 404) return undefined;
      throw e;
    }
  }
}

function requireCdsCaller(auth: AuthContext | undefined): void {
  if (!auth || !CDS_ROLES.includes(auth.role)) throw forbidden('The CDS services answer EHR-system and clinician tokens only');
  if (auth.role === 'clinician' && !auth.practitioner) throw forbidden('This clinician token is bound to no Practitioner');
}

function serviceOf(id: string): CdsServiceDefinition {
  const service = CDS_SERVICES.find((s) => s.id === id);
  if (!service) throw notFound(`No CDS service "${id.slice(0, 64)}" (see GET /cds-services)`);
  return service;
}
