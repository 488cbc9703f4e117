import type { Communication, Extension, QuestionnaireResponse, RiskAssessment } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import { freeTextOf, ratingOf } from '../../../ai/features/text.features';
import { AI_MODEL_EXTENSION_URL } from './condition.mapper';
import { compact, fromTimestamp, localRef, localRefId, num, patientRef, requireId, str, toTimestamp } from './mapper-utils';

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
