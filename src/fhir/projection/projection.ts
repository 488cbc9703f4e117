import type { Resource } from '@medplum/fhirtypes';

/**
 * A row of one of the seed's tables (the relational face of a resource). Column names are the
 * table's; values are plain JS values (string, number, boolean, Date-as-ISO-string, objects for jsonb,
 * Buffer for bytea). Columns listed as encrypted in the table's definition hold the plaintext here
 * (a string, or an object that is stored as JSON text) and are encrypted by the projection writer.
 */
export interface ProjectionRow {
  table: string;
  values: Record<string, unknown>;
}

/** What a mapper may need besides the resource, passed in so that mappers stay pure. */
export interface MapperContext {
  /** Keyed hash used as a blind index for encrypted identifiers. */
  blindIndex(value: string): Buffer;
}

/** One pure mapper per resource type that has a seed table. */
export interface ResourceMapper<R extends Resource = Resource> {
  resourceType: R['resourceType'];
  /** Every table this mapper may write; rows it no longer produces for a resource are removed. */
  tables: readonly string[];
  /** The rows that represent this version of the resource ([] when it has none, e.g. an Observation no table takes). */
  toRows(resource: R, ctx: MapperContext): ProjectionRow[];
  /** The resource's relational face, rebuilt from its row (encrypted columns already decrypted). */
  toResource(row: Record<string, unknown>): R;
}

/** How the writer treats one table. */
export interface ProjectionTable {
  name: string;
  /** Primary key columns. */
  key: readonly string[];
  /** The column holding the id of the resource the row comes from. */
  owner: string;
  /** Columns stored encrypted with pgcrypto (and their key id in `key_id`). */
  encrypted?: readonly string[];
  /** Whether the table has version_id / last_updated columns the writer fills in. */
  versioned?: boolean;
  /** Whether the table has foreign keys of its own (deferred: checked at commit, or at the end of a batch entry). */
  foreignKeys?: boolean;
  /** A key that must stay unique across resources: a conflicting row of another resource is refused. */
  uniqueAcrossResources?: { message: (row: Record<string, unknown>) => string };
  /**
   * Columns naming the model version behind an AI output (a foreign key to ai_models): set only
   * when the Device the resource names is one of this server's registered models, else NULL. A
   * Device pulled from another server (its own AI's model) is a plain Device here; the resource
   * keeps its reference, only the row does not claim one of our models.
   */
  modelColumns?: readonly string[];
}

const patientOwned = (name: string): ProjectionTable => ({ name, key: ['patient_id', 'id'], owner: 'id', versioned: true, foreignKeys: true });
/** A table of AI outputs: ai_model_id names one of our models only when it is one. */
const aiOutputs = (name: string): ProjectionTable => ({ ...patientOwned(name), modelColumns: ['ai_model_id'] });

export const PROJECTION_TABLES: Record<string, ProjectionTable> = {
  patients: { name: 'patients', key: ['id'], owner: 'id', encrypted: ['contact_info', 'national_id'], versioned: true },
  patient_national_ids: {
    name: 'patient_national_ids',
    key: ['national_id_hash'],
    owner: 'patient_id',
    uniqueAcrossResources: { message: () => 'Another Patient already holds this national identifier' },
  },
  doctors: { name: 'doctors', key: ['id'], owner: 'id', versioned: true },
  encounters: patientOwned('encounters'),
  appointments: patientOwned('appointments'),
  appointments_without_patient: { name: 'appointments_without_patient', key: ['id'], owner: 'id', versioned: true, foreignKeys: true },
  beds: { name: 'beds', key: ['id'], owner: 'id', versioned: true },
  monitoring_data: patientOwned('monitoring_data'),
  icu_monitoring: patientOwned('icu_monitoring'),
  stress_data: patientOwned('stress_data'),
  prescriptions: patientOwned('prescriptions'),
  diagnoses: aiOutputs('diagnoses'),
  feedback: aiOutputs('feedback'),
  therapy_sessions: aiOutputs('therapy_sessions'),
  triage: aiOutputs('triage'),
  recommendations: aiOutputs('recommendations'),
  emergency_alerts: patientOwned('emergency_alerts'),
  wellness_plans: patientOwned('wellness_plans'),
  inventory: { name: 'inventory', key: ['id'], owner: 'id', versioned: true },
  resources: { name: 'resources', key: ['id'], owner: 'id', versioned: true },
  adherence_tracking: patientOwned('adherence_tracking'),
  billing: patientOwned('billing'),
};
