import type { Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError, badRequest, conflict, outcome } from '../operation-outcome';
import { collectReferences } from '../references/reference-rewriter';

/** Which resource type each projection table holds, to name references in messages. */
const TABLE_TYPES: Record<string, string> = {
  patients: 'Patient',
  doctors: 'Practitioner',
  encounters: 'Encounter',
  diagnoses: 'Condition',
  prescriptions: 'MedicationRequest',
  monitoring_data: 'Observation',
  icu_monitoring: 'Observation',
  stress_data: 'Observation',
  inventory: 'Medication',
  resources: 'Device',
  ai_models: 'Device',
  ehr_records: 'EHR record chain',
};

/**
 * A reference that the database's integrity checks refused, with the resource it names: `missing`,
 * a reference to a resource that does not exist; `referenced`, a deletion of one still referred to.
 * Lets a transaction name the entry that holds the reference or deletes the resource.
 */
export class IntegrityError extends OperationOutcomeError {
  constructor(
    base: OperationOutcomeError,
    readonly kind: 'missing' | 'referenced',
    /** `Type/id` of the resource named. */
    readonly target: string,
  ) {
    super(base.status, base.outcome);
  }

  static missing(target: string): IntegrityError {
    return new IntegrityError(badRequest(`Reference to ${target} cannot be resolved: no such resource on this server`), 'missing', target);
  }

  /**
   * This error with its issue pointing at the elements of `resource` that refer to the missing
   * resource (`Observation.subject`: the Reference, as validation issues name it), when it has any:
   * the database names only the resource missing.
   */
  pointedAt(resource: Resource): IntegrityError {
    if (this.kind !== 'missing') return this;
    const paths = collectReferences(resource)
      .filter(({ reference }) => reference === this.target || reference.startsWith(`${this.target}/_history/`) || reference.endsWith(`/${this.target}`))
      .map(({ path }) => path.replace(/\.reference$/, ''));
    if (!paths.length) return this;
    const issues = (this.outcome.issue ?? []).map((i) => ({ ...i, expression: [...new Set(paths)] }));
    return new IntegrityError(new OperationOutcomeError(this.status, outcome(issues)), this.kind, this.target);
  }

  static referenced(target: string, by: string): IntegrityError {
    return new IntegrityError(conflict(`${target} is still referenced by ${by} resources; delete or update them first`), 'referenced', target);
  }
}

interface PgError {
  code?: string;
  message?: string;
  detail?: string;
  /** The table the constraint belongs to: for a foreign key, the referencing table. */
  table?: string;
  constraint?: string;
}

/**
 * Turns the database's referential-integrity errors (checked at commit: the foreign keys are
 * deferred so that a bundle may reference what it creates later) into FHIR errors that name the
 * reference, without revealing SQL.
 */
export function translateConstraintError(e: unknown): unknown {
  if (e instanceof OperationOutcomeError) return e;
  const err = e as PgError;
  // Two transactions that lock the same rows in opposite orders (e.g. bundles dispensing several
  // drugs): PostgreSQL aborts one. Nothing of it was stored, and trying again will do.
  if (err?.code === '40P01' || err?.code === '40001') {
    return OperationOutcomeError.of(409, 'transient', 'A concurrent transaction wrote the same resources; nothing was stored: try again');
  }
  if (err?.code !== '23503' || !err.detail) return e;
  // Key (doctor_id)=(abc) is not present in table "doctors".
  const missing = /^Key \(([^)]+)\)=\(([^)]*)\) is not present in table "([^"]+)"/.exec(err.detail);
  if (missing) {
    const [, , value, table] = missing;
    const ids = value.split(', ');
    const type = TABLE_TYPES[table] ?? table;
    return IntegrityError.missing(`${type}/${ids[ids.length - 1]}`);
  }
  // Key (id)=(abc) is still referenced from table "encounters".
  const referenced = /^Key \(([^)]+)\)=\(([^)]*)\) is still referenced from table "([^"]+)"/.exec(err.detail);
  if (referenced) {
    const [, , value, fromTable] = referenced;
    // err.table names the referencing table (fromTable); the referenced one is in the message:
    // update or delete on table "patients" violates foreign key constraint "..." on table "encounters"
    const table = /update or delete on table "([^"]+)"/.exec(err.message ?? '')?.[1];
    const type = (table && TABLE_TYPES[table]) ?? table ?? 'resource';
    const fromType = TABLE_TYPES[fromTable] ?? fromTable;
    return IntegrityError.referenced(`${type}/${value.split(', ').pop()}`, fromType);
  }
  return e;
}
