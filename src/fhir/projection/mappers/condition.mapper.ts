import type { Condition, Extension } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import {
  compact,
  conceptLabel,
  firstCoding,
  fromTimestamp,
  localRef,
  localRefId,
  patientRef,
  num,
  requireId,
  str,
  toTimestamp,
  truncate,
} from './mapper-utils';

/** Extension carrying an AI model's confidence (valueDecimal, 0..1) in a Condition it supported. */
export const AI_CONFIDENCE_EXTENSION_URL = 'https://fhir-ai-server.dev/StructureDefinition/ai-confidence';

/** Extension naming the model version (valueReference Device/<ai_models id>) behind that confidence. */
export const AI_MODEL_EXTENSION_URL = 'https://fhir-ai-server.dev/StructureDefinition/ai-model';

/**
 * The confidence stored in diagnoses.confidence_score (decimal(3,2)): rounded to 2 decimals, and
 * null outside 0..1 (a percentage such as 87 is not a probability and would not fit the column).
 */
export function confidenceScore(ext: Extension | undefined): number | null {
  const v = ext?.valueDecimal;
  return typeof v === 'number' && v >= 0 && v <= 1 ? Math.round(v * 100) / 100 : null;
}

/**
 * Condition → diagnoses (only when its subject is a local Patient, and not entered-in-error: the
 * table has no status column to tell consumers it is void).
 */
export const conditionMapper: ResourceMapper<Condition> = {
  resourceType: 'Condition',
  tables: ['diagnoses'],

  toRows(condition: Condition): ProjectionRow[] {
    const patientId = localRefId(condition.subject, 'Patient');
    const voided = condition.verificationStatus?.coding?.some((c) => c.code === 'entered-in-error');
    if (!patientId || voided) return [];
    const ai = condition.extension?.find((e) => e.url === AI_CONFIDENCE_EXTENSION_URL);
    const coding = firstCoding(condition.code);
    return [
      {
        table: 'diagnoses',
        values: {
          patient_id: patientId,
          id: requireId(condition),
          doctor_id: localRefId(condition.asserter, 'Practitioner') ?? localRefId(condition.recorder, 'Practitioner') ?? null,
          ai_supported: !!ai,
          confidence_score: confidenceScore(ai),
          ai_model_id: localRefId(condition.extension?.find((e) => e.url === AI_MODEL_EXTENSION_URL)?.valueReference, 'Device') ?? null,
          diagnosis_text: conceptLabel(condition.code) ?? null,
          code_system: truncate(coding?.system, 255),
          code: truncate(coding?.code, 64),
          created_at: toTimestamp(condition.recordedDate ?? condition.onsetDateTime),
        },
      },
    ];
  },

  toResource(row: Record<string, unknown>): Condition {
    const text = str(row.diagnosis_text);
    const code = str(row.code);
    const confidence = num(row.confidence_score);
    return compact<Condition>({
      resourceType: 'Condition',
      id: String(row.id),
      extension:
        row.ai_supported && confidence !== undefined ? [{ url: AI_CONFIDENCE_EXTENSION_URL, valueDecimal: confidence }] : undefined,
      code: text || code ? compact({ coding: code ? [compact({ system: str(row.code_system), code })] : undefined, text }) : undefined,
      subject: patientRef(row),
      recordedDate: fromTimestamp(row.created_at),
      asserter: localRef('Practitioner', row.doctor_id),
    });
  },
};
