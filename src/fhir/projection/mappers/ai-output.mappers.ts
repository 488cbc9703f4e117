import type { Communication, Extension, Flag, QuestionnaireResponse, RiskAssessment, Task } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import { freeTextOf, ratingOf } from '../../text/free-text';
import { AI_MODEL_EXTENSION_URL } from './condition.mapper';
import { compact, fromTimestamp, json, localRef, localRefId, num, patientRef, requireId, str, toTimestamp } from './mapper-utils';
import { ALERT_ACKNOWLEDGEMENT_URL, ALERT_SYSTEM, GEOLOCATION_URL, alertState, deciderLabel, decisionExtension, isEmergencyAlert, secondsBetween } from './alert-state';

/** Extension carrying a sentiment score (valueDecimal, -1..1) on the text it was computed from. */
export const AI_SENTIMENT_EXTENSION_URL = 'https://fhir-ai-server.dev/StructureDefinition/ai-sentiment';
/** The code of a triage RiskAssessment (prediction outcome codes 1..5 under the same system). */
export const TRIAGE_SYSTEM = 'urn:fhir-ai-server:triage-priority';

function score(ext: Extension | undefined): number | null {
  const v = ext?.valueDecimal;
  return typeof v === 'number' && v >= -1 && v <= 1 ? Math.round(v * 100) / 100 : null;
}

function modelOf(extensions: Extension[] | undefined): string | null {
  return localRefId(extensions?.find((e) => e.url === AI_MODEL_EXTENSION_URL)?.valueReference, 'Device') ?? null;
}

function aiExtensions(sentiment: unknown, model: unknown): Extension[] | undefined {
  const s = num(sentiment);
  const list: Extension[] = [
    ...(s !== undefined ? [{ url: AI_SENTIMENT_EXTENSION_URL, valueDecimal: s }] : []),
    ...(str(model) ? [{ url: AI_MODEL_EXTENSION_URL, valueReference: { reference: `Device/${String(model)}` } }] : []),
  ];
  return list.length ? list : undefined;
}

/** QuestionnaireResponse (a feedback form: `rating`, `comments`) → feedback, with its sentiment once scored. */
export const feedbackMapper: ResourceMapper<QuestionnaireResponse> = {
  resourceType: 'QuestionnaireResponse',
  tables: ['feedback'],
  toRows(qr: QuestionnaireResponse): ProjectionRow[] {
    const patientId = localRefId(qr.subject, 'Patient');
    const comments = freeTextOf(qr);
    const rating = ratingOf(qr);
    // entered-in-error: the table has no status column to tell consumers it is void
    if (!patientId || qr.status === 'entered-in-error' || (comments === undefined && rating === undefined)) return [];
    return [
      {
        table: 'feedback',
        values: {
          patient_id: patientId,
          id: requireId(qr),
          rating: rating ?? null,
          comments: comments ?? null,
          sentiment_score: score(qr.extension?.find((e) => e.url === AI_SENTIMENT_EXTENSION_URL)),
          ai_model_id: modelOf(qr.extension),
          created_at: toTimestamp(qr.authored),
        },
      },
    ];
  },
  toResource(row: Record<string, unknown>): QuestionnaireResponse {
    const items = [
      ...(num(row.rating) !== undefined ? [{ linkId: 'rating', answer: [{ valueInteger: num(row.rating) as number }] }] : []),
      ...(str(row.comments) ? [{ linkId: 'comments', answer: [{ valueString: str(row.comments) as string }] }] : []),
    ];
    return compact<QuestionnaireResponse>({
      resourceType: 'QuestionnaireResponse',
      id: String(row.id),
      extension: aiExtensions(row.sentiment_score, row.ai_model_id),
      status: 'completed',
      subject: patientRef(row),
      authored: fromTimestamp(row.created_at),
      item: items.length ? items : undefined,
    });
  },
};

/** Communication with text to or from a patient (a therapy session's message) → therapy_sessions. */
export const therapySessionMapper: ResourceMapper<Communication> = {
  resourceType: 'Communication',
  tables: ['therapy_sessions'],
  toRows(c: Communication): ProjectionRow[] {
    const patientId = localRefId(c.subject, 'Patient');
    const text = freeTextOf(c);
    if (!patientId || c.status === 'entered-in-error' || text === undefined) return [];
    return [
      {
        table: 'therapy_sessions',
        values: {
          patient_id: patientId,
          id: requireId(c),
          session_data: text,
          sentiment_analysis: score(c.extension?.find((e) => e.url === AI_SENTIMENT_EXTENSION_URL)),
          ai_model_id: modelOf(c.extension),
          created_at: toTimestamp(c.sent),
        },
      },
    ];
  },
  toResource(row: Record<string, unknown>): Communication {
    return compact<Communication>({
      resourceType: 'Communication',
      id: String(row.id),
      extension: aiExtensions(row.sentiment_analysis, row.ai_model_id),
      status: 'completed',
      subject: patientRef(row),
      sent: fromTimestamp(row.created_at),
      payload: str(row.session_data) ? [{ contentString: str(row.session_data) as string }] : undefined,
    });
  },
};

/** A triage RiskAssessment (code urn:fhir-ai-server:triage-priority#triage) → triage. */
export const triageMapper: ResourceMapper<RiskAssessment> = {
  resourceType: 'RiskAssessment',
  tables: ['triage'],
  toRows(ra: RiskAssessment): ProjectionRow[] {
    const patientId = localRefId(ra.subject, 'Patient');
    const isTriage = ra.code?.coding?.some((c) => c.system === TRIAGE_SYSTEM && c.code === 'triage');
    if (!patientId || !isTriage || ra.status === 'entered-in-error') return [];
    const code = ra.prediction?.[0]?.outcome?.coding?.find((c) => c.system === TRIAGE_SYSTEM)?.code;
    const priority = code && /^[1-5]$/.test(code) ? Number(code) : null;
    const device = localRefId(ra.performer, 'Device');
    return [
      {
        table: 'triage',
        values: {
          patient_id: patientId,
          id: requireId(ra),
          priority_score: priority,
          symptoms: ra.note?.map((n) => n.text).join('\n') || null,
          ai_predicted: !!device,
          ai_model_id: device ?? null,
          created_at: toTimestamp(ra.occurrenceDateTime),
        },
      },
    ];
  },
  toResource(row: Record<string, unknown>): RiskAssessment {
    const priority = num(row.priority_score);
    return compact<RiskAssessment>({
      resourceType: 'RiskAssessment',
      id: String(row.id),
      status: 'final',
      code: { coding: [{ system: TRIAGE_SYSTEM, code: 'triage' }], text: 'Triage priority' },
      subject: patientRef(row),
      occurrenceDateTime: fromTimestamp(row.created_at),
      performer: localRef('Device', row.ai_model_id),
      prediction: priority !== undefined ? [{ outcome: { coding: [{ system: TRIAGE_SYSTEM, code: String(priority) }] } }] : undefined,
      note: str(row.symptoms) ? [{ text: str(row.symptoms) as string }] : undefined,
    });
  },
};

const RECOMMENDATION_SYSTEM = 'urn:fhir-ai-server:ai-task';

/**
 * A recommendation awaiting a clinician (Task coded urn:fhir-ai-server:ai-task#recommendation) →
 * recommendations: approved once a clinician has accepted or completed it (owner: the doctor).
 */
export const recommendationMapper: ResourceMapper<Task> = {
  resourceType: 'Task',
  tables: ['recommendations'],
  toRows(task: Task): ProjectionRow[] {
    const patientId = localRefId(task.for, 'Patient');
    const isRecommendation = task.code?.coding?.some((c) => c.system === RECOMMENDATION_SYSTEM && c.code === 'recommendation');
    if (!patientId || !isRecommendation || task.status === 'entered-in-error') return [];
    const device = localRefId(task.requester, 'Device');
    return [
      {
        table: 'recommendations',
        values: {
          patient_id: patientId,
          id: requireId(task),
          diagnosis_id: localRefId(task.focus, 'Condition') ?? null,
          recommendation: task.description ?? null,
          ai_generated: !!device,
          approved_by_doctor: task.status === 'accepted' || task.status === 'completed',
          ai_model_id: device ?? null,
          doctor_id: localRefId(task.owner, 'Practitioner') ?? null,
        },
      },
    ];
  },
  toResource(row: Record<string, unknown>): Task {
    return compact<Task>({
      resourceType: 'Task',
      id: String(row.id),
      status: row.approved_by_doctor ? 'accepted' : 'requested',
      intent: 'proposal',
      code: { coding: [{ system: RECOMMENDATION_SYSTEM, code: 'recommendation' }] },
      for: patientRef(row),
      focus: localRef('Condition', row.diagnosis_id),
      description: str(row.recommendation),
      requester: localRef('Device', row.ai_model_id),
      owner: localRef('Practitioner', row.doctor_id),
    });
  },
};

/**
 * An emergency alert (Flag coded urn:fhir-ai-server:alert#emergency) → emergency_alerts. Its
 * lifecycle (alert-state.ts): active is raised, active with an acknowledgement extension is
 * acknowledged, inactive is resolved (at period.end); response times are seconds from period.start.
 */
export const emergencyAlertMapper: ResourceMapper<Flag> = {
  resourceType: 'Flag',
  tables: ['emergency_alerts'],
  toRows(flag: Flag): ProjectionRow[] {
    const patientId = localRefId(flag.subject, 'Patient');
    if (!patientId || !isEmergencyAlert(flag) || flag.status === 'entered-in-error') return [];
    const state = alertState(flag);
    return [
      {
        table: 'emergency_alerts',
        values: {
          patient_id: patientId,
          id: requireId(flag),
          // The seed's column holds 100 characters; the Flag keeps the whole text.
          alert_type: Array.from(flag.code.text ?? 'emergency').slice(0, 100).join(''),
          response_status: state.status,
          geolocation: state.geolocation ?? null,
          created_at: toTimestamp(flag.period?.start),
          acknowledged_at: toTimestamp(state.acknowledged?.at),
          acknowledged_by: deciderLabel(state.acknowledged),
          resolved_at: toTimestamp(state.resolved?.at),
          resolved_by: deciderLabel(state.resolved),
          seconds_to_acknowledge: secondsBetween(state.raisedAt, state.acknowledged?.at),
          seconds_to_resolve: secondsBetween(state.raisedAt, state.resolved?.at),
        },
      },
    ];
  },
  toResource(row: Record<string, unknown>): Flag {
    const start = fromTimestamp(row.created_at);
    const end = row.response_status === 'resolved' ? fromTimestamp(row.resolved_at) : undefined;
    const geo = json<{ latitude?: number; longitude?: number }>(row.geolocation);
    const ack = fromTimestamp(row.acknowledged_at);
    const extension = [
      ...(geo && typeof geo.latitude === 'number' && typeof geo.longitude === 'number'
        ? [{ url: GEOLOCATION_URL, extension: [{ url: 'latitude', valueDecimal: geo.latitude }, { url: 'longitude', valueDecimal: geo.longitude }] }]
        : []),
      ...(ack && str(row.acknowledged_by) ? [decisionExtension(ALERT_ACKNOWLEDGEMENT_URL, { by: { reference: str(row.acknowledged_by) as string }, at: ack })] : []),
    ];
    return compact<Flag>({
      resourceType: 'Flag',
      id: String(row.id),
      extension: extension.length ? extension : undefined,
      status: row.response_status === 'resolved' ? 'inactive' : 'active',
      code: { coding: [{ system: ALERT_SYSTEM, code: 'emergency' }], text: str(row.alert_type) },
      subject: patientRef(row) as Flag['subject'],
      period: start || end ? compact({ start, end }) : undefined,
    });
  },
};
