/**
 * How the schema spreads over a Citus cluster. Every table of the schema is named here once
 * (test/integration/citus-readiness.spec.ts fails on a table that is not), in one of:
 * - distributed, co-located on the patient: `patients` by `id`, every patient-owned table by
 *   `patient_id`, so that one patient's rows share a shard and the hot paths (which all carry
 *   patient_id) are routed to one node;
 * - distributed on a key of its own (the national-id lookup, keyed by the blind index, which is
 *   what keeps national ids unique across shards);
 * - reference tables (small, shared, read everywhere, copied to every node);
 * - coordinator-local tables (queues and bookkeeping that only the coordinator touches), added to
 *   Citus metadata so that a transaction may write them together with distributed tables.
 */
export interface CitusPlan {
  /** Co-location root and its distribution column. */
  root: { table: string; column: string };
  /** Co-located with the root, on `patient_id`. */
  colocated: string[];
  /** Distributed on a column of their own (not co-located). */
  ownKey: Array<{ table: string; column: string }>;
  reference: string[];
  coordinatorLocal: string[];
}

export const CITUS_PLAN: CitusPlan = {
  root: { table: 'patients', column: 'id' },
  colocated: [
    'fhir_patient_resource',
    'fhir_patient_resource_history',
    'search_string',
    'search_token',
    'search_date',
    'search_number',
    'search_quantity',
    'search_reference',
    'search_uri',
    'search_packed',
    'search_reference_audit',
    'search_date_audit',
    'adherence_tracking',
    'appointments',
    'billing',
    'diagnoses',
    'ehr_records',
    'emergency_alerts',
    'encounters',
    'feedback',
    'icu_monitoring',
    'monitoring_data',
    'prescriptions',
    'recommendations',
    'stress_data',
    'therapy_sessions',
    'triage',
    'wellness_plans',
    'ai_predictions',
    'audit_log',
  ],
  ownKey: [{ table: 'patient_national_ids', column: 'national_id_hash' }],
  reference: [
    'fhir_resource',
    'fhir_resource_history',
    'doctors',
    'ai_models',
    'ai_model_transitions',
    'inventory',
    'resources',
    'beds',
    'appointments_without_patient',
    'auth_clients',
    'auth_signing_keys',
  ],
  coordinatorLocal: [
    'outbox_events',
    'bulk_exports',
    'bulk_export_files',
    'mikro_orm_migrations',
    // Exchange bookkeeping: connections, runs, cursors, the remote-id map, pushes, failures.
    'exchange_connections',
    'exchange_sync_runs',
    'exchange_sync_cursors',
    'exchange_remote_resources',
    'exchange_push',
    'exchange_failures',
  ],
};

/** The distribution column of a distributed table, or undefined for the others. */
export function distributionColumn(plan: CitusPlan, table: string): string | undefined {
  if (table === plan.root.table) return plan.root.column;
  if (plan.colocated.includes(table)) return 'patient_id';
  return plan.ownKey.find((t) => t.table === table)?.column;
}

export type TableKind = 'distributed' | 'reference' | 'coordinator-local';

export function kindOf(plan: CitusPlan, table: string): TableKind | undefined {
  if (distributionColumn(plan, table)) return 'distributed';
  if (plan.reference.includes(table)) return 'reference';
  if (plan.coordinatorLocal.includes(table)) return 'coordinator-local';
  return undefined;
}

/**
 * The statements that distribute the schema, in an order Citus accepts: reference tables first
 * (distributed tables reference them), then the co-location root, then the tables co-located
 * with it, then the others; `done` are tables Citus already knows (the step is re-runnable).
 */
export function distributionStatements(plan: CitusPlan, database: string, done: ReadonlySet<string> = new Set()): string[] {
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const out: string[] = [
    // The audit triggers run on each shard and write only that shard's audit_log rows (co-located),
    // which is what makes them safe; Citus asks for this to be said explicitly.
    `ALTER DATABASE "${database.replace(/"/g, '""')}" SET citus.enable_unsafe_triggers TO on`,
    'SET citus.enable_unsafe_triggers TO on',
  ];
  for (const t of plan.reference) if (!done.has(t)) out.push(`SELECT create_reference_table(${lit(t)})`);
  for (const t of plan.coordinatorLocal) if (!done.has(t)) out.push(`SELECT citus_add_local_table_to_metadata(${lit(t)})`);
  if (!done.has(plan.root.table)) out.push(`SELECT create_distributed_table(${lit(plan.root.table)}, ${lit(plan.root.column)})`);
  for (const t of plan.colocated) {
    if (!done.has(t)) out.push(`SELECT create_distributed_table(${lit(t)}, 'patient_id', colocate_with => ${lit(plan.root.table)})`);
  }
  for (const t of plan.ownKey) if (!done.has(t.table)) out.push(`SELECT create_distributed_table(${lit(t.table)}, ${lit(t.column)}, colocate_with => 'none')`);
  return out;
}
