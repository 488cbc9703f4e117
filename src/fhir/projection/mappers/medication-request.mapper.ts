import type { CodeableConcept, Dosage, Medication, MedicationRequest, Quantity } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import {
  compact,
  conceptLabel,
  conceptText,
  firstCoding,
  fromTimestamp,
  localRef,
  localRefId,
  num,
  patientRef,
  requireId,
  str,
  toTimestamp,
  truncate,
} from './mapper-utils';

/**
 * The share of expected doses taken (0..1), kept by the server from the prescription's adherence
 * events (src/hospital/pharmacy/adherence.ts); clients cannot set it.
 */
export const ADHERENCE_RATE_URL = 'https://fhir-ai-server.dev/StructureDefinition/adherence-rate';

export function adherenceRateOf(mr: MedicationRequest): number | undefined {
  const v = mr.extension?.find((e) => e.url === ADHERENCE_RATE_URL)?.valueDecimal;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** The medication's concept: the CodeableConcept, or the code of a contained Medication (`#id`). */
function medicationConcept(mr: MedicationRequest): CodeableConcept | undefined {
  if (mr.medicationCodeableConcept) return mr.medicationCodeableConcept;
  const ref = mr.medicationReference?.reference;
  if (!ref?.startsWith('#')) return undefined;
  const med = mr.contained?.find((r): r is Medication => r.resourceType === 'Medication' && r.id === ref.slice(1));
  return med?.code;
}

const quantityText = (q: Quantity | undefined) =>
  q?.value === undefined ? undefined : [q.value, q.unit ?? q.code].filter((p) => p !== undefined).join(' ');

/** A dosage instruction as short text: its text, else e.g. "2 TAB, 3 per d, as needed". */
export function dosageText(d: Dosage | undefined): string | undefined {
  if (!d) return undefined;
  if (d.text) return d.text;
  const dr = d.doseAndRate?.[0];
  const dose =
    quantityText(dr?.doseQuantity) ??
    ([quantityText(dr?.doseRange?.low), quantityText(dr?.doseRange?.high)].filter(Boolean).join('-') || undefined);
  const r = d.timing?.repeat;
  const timing =
    conceptText(d.timing?.code) ??
    (r?.period !== undefined ? `${r.frequency ?? 1} per ${r.period === 1 ? '' : `${r.period} `}${r.periodUnit ?? ''}`.trim() : undefined);
  const asNeeded = d.asNeededBoolean || d.asNeededCodeableConcept ? 'as needed' : undefined;
  return [dose, timing, asNeeded].filter(Boolean).join(', ') || undefined;
}

/** MedicationRequest → prescriptions (only when its subject is a local Patient). */
export const medicationRequestMapper: ResourceMapper<MedicationRequest> = {
  resourceType: 'MedicationRequest',
  tables: ['prescriptions'],

  toRows(mr: MedicationRequest): ProjectionRow[] {
    const patientId = localRefId(mr.subject, 'Patient');
    if (!patientId) return [];
    const concept = medicationConcept(mr);
    const medication = conceptLabel(mr.medicationCodeableConcept) ?? mr.medicationReference?.display ?? conceptLabel(concept);
    return [
      {
        table: 'prescriptions',
        values: {
          patient_id: patientId,
          id: requireId(mr),
          medication: truncate(medication, 255),
          medication_code: truncate(firstCoding(concept)?.code, 64),
          dosage: truncate(dosageText(mr.dosageInstruction?.[0]), 100),
          adherence_rate: adherenceRateOf(mr)?.toFixed(2) ?? null,
          inventory_id: localRefId(mr.medicationReference, 'Medication') ?? null,
          status: truncate(mr.status, 50),
          doctor_id: localRefId(mr.requester, 'Practitioner') ?? null,
          created_at: toTimestamp(mr.authoredOn),
        },
      },
    ];
  },

  toResource(row: Record<string, unknown>): MedicationRequest {
    const medication = str(row.medication);
    const code = str(row.medication_code);
    const dosage = str(row.dosage);
    const adherence = num(row.adherence_rate);
    return compact<MedicationRequest>({
      resourceType: 'MedicationRequest',
      id: String(row.id),
      extension: adherence !== undefined ? [{ url: ADHERENCE_RATE_URL, valueDecimal: adherence }] : undefined,
      status: (str(row.status) ?? 'unknown') as MedicationRequest['status'],
      intent: 'order', // required; the table does not keep the intent
      medicationCodeableConcept:
        medication || code ? compact({ coding: code ? [{ code }] : undefined, text: medication }) : { text: 'unknown' },
      subject: patientRef(row),
      authoredOn: fromTimestamp(row.created_at),
      requester: localRef('Practitioner', row.doctor_id),
      dosageInstruction: dosage ? [{ text: dosage }] : undefined,
    });
  },
};
