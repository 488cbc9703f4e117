import type { CodeableConcept, Medication, Reference, Resource } from '@medplum/fhirtypes';
import { conceptLabel, localRefId } from '../../fhir/projection/mappers/mapper-utils';
import { stockOnHand } from '../../fhir/projection/mappers/medication.mapper';
import type { StockBatch } from './stock';

/** What a prescription or dispense names as its drug: a concept, or a Medication (local or contained). */
export interface DrugRef {
  /** Codes of the concept (any system). */
  codes: string[];
  /** A local Medication (`Medication/id`): a batch. */
  medicationId?: string;
  label: string;
}

interface HasMedication {
  medicationCodeableConcept?: CodeableConcept;
  medicationReference?: Reference;
  contained?: Resource[];
}

const codesOf = (cc: CodeableConcept | undefined) => (cc?.coding ?? []).map((c) => c.code).filter((c): c is string => !!c);

/** The drug a MedicationRequest or MedicationDispense is about, or undefined when it names none we can match. */
export function drugOf(r: HasMedication): DrugRef | undefined {
  if (r.medicationCodeableConcept) {
    const codes = codesOf(r.medicationCodeableConcept);
    return codes.length ? { codes, label: conceptLabel(r.medicationCodeableConcept) ?? codes[0] } : undefined;
  }
  const ref = r.medicationReference?.reference;
  if (ref?.startsWith('#')) {
    const med = r.contained?.find((c): c is Medication => c.resourceType === 'Medication' && c.id === ref.slice(1));
    const codes = codesOf(med?.code);
    return codes.length ? { codes, label: conceptLabel(med?.code) ?? codes[0] } : undefined;
  }
  const medicationId = localRefId(r.medicationReference, 'Medication');
  return medicationId ? { codes: [], medicationId, label: r.medicationReference?.display ?? `Medication/${medicationId}` } : undefined;
}

/** A stocked batch from its Medication, or undefined when the Medication holds no stock extension. */
export function batchOf(m: Medication): StockBatch | undefined {
  const stock = stockOnHand(m);
  if (stock === undefined || !m.id) return undefined;
  return {
    id: m.id,
    name: conceptLabel(m.code),
    code: m.code?.coding?.find((c) => c.code)?.code,
    lot: m.batch?.lotNumber,
    stock,
    expiry: m.batch?.expirationDate?.slice(0, 10),
  };
}

