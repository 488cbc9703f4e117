import { CITUS_PLAN, distributionColumn, distributionStatements, kindOf, type CitusPlan } from './citus-plan';
import { readinessProblems, type SchemaCatalog } from './citus-readiness';

const plan: CitusPlan = {
  root: { table: 'patients', column: 'id' },
  colocated: ['encounters', 'recommendations'],
  ownKey: [{ table: 'patient_national_ids', column: 'national_id_hash' }],
  reference: ['doctors'],
  coordinatorLocal: ['outbox_events'],
};

const table = (name: string, cols: Array<[string, boolean?]>) => ({ table: name, columns: cols.map(([n, notNull = true]) => ({ name: n, notNull, identity: false })) });

describe('the Citus plan', () => {
  it('names each table once, and knows each distributed table\'s column', () => {
    const all = [CITUS_PLAN.root.table, ...CITUS_PLAN.colocated, ...CITUS_PLAN.ownKey.map((t) => t.table), ...CITUS_PLAN.reference, ...CITUS_PLAN.coordinatorLocal];
    expect(new Set(all).size).toBe(all.length);
    expect(distributionColumn(CITUS_PLAN, 'patients')).toBe('id');
    expect(distributionColumn(CITUS_PLAN, 'fhir_patient_resource')).toBe('patient_id');
    expect(distributionColumn(CITUS_PLAN, 'patient_national_ids')).toBe('national_id_hash');
    expect(kindOf(CITUS_PLAN, 'doctors')).toBe('reference');
    expect(kindOf(CITUS_PLAN, 'outbox_events')).toBe('coordinator-local');
    expect(kindOf(CITUS_PLAN, 'nothing')).toBeUndefined();
  });

  it('distributes reference tables first, then the root, then its co-located tables, skipping what is done', () => {
    const sql = distributionStatements(plan, 'fhir');
    expect(sql[0]).toBe(`ALTER DATABASE "fhir" SET citus.enable_unsafe_triggers TO on`);
    const at = (s: string) => sql.findIndex((x) => x.includes(s));
    expect(at("create_reference_table('doctors')")).toBeLessThan(at("create_distributed_table('patients', 'id')"));
    expect(at("citus_add_local_table_to_metadata('outbox_events')")).toBeGreaterThan(0);
    expect(at("create_distributed_table('patients', 'id')")).toBeLessThan(at("create_distributed_table('encounters', 'patient_id', colocate_with => 'patients')"));
    expect(sql).toContain("SELECT create_distributed_table('patient_national_ids', 'national_id_hash', colocate_with => 'none')");
    const again = distributionStatements(plan, 'fhir', new Set(['doctors', 'patients', 'encounters', 'recommendations', 'patient_national_ids', 'outbox_events']));
    expect(again.filter((s) => s.startsWith('SELECT'))).toEqual([]);
  });
});

describe('readinessProblems', () => {
  const ok: SchemaCatalog = {
    tables: [table('patients', [['id']]), table('encounters', [['patient_id'], ['id'], ['doctor_id', false]]), table('doctors', [['id']]), table('outbox_events', [['id'], ['patient_id', false]])],
    uniques: [
      { table: 'patients', name: 'patients_pkey', columns: ['id'] },
      { table: 'encounters', name: 'encounters_pkey', columns: ['patient_id', 'id'] },
    ],
    foreignKeys: [
      { table: 'encounters', name: 'encounters_patient_id_fkey', columns: ['patient_id'], refTable: 'patients', refColumns: ['id'], onDelete: 'a' },
      { table: 'encounters', name: 'encounters_doctor_id_fkey', columns: ['doctor_id'], refTable: 'doctors', refColumns: ['id'], onDelete: 'a' },
    ],
  };

  it('finds nothing wrong with a schema that follows the rules', () => {
    expect(readinessProblems(ok, plan)).toEqual([]);
  });

  it('names each rule a schema breaks', () => {
    const bad: SchemaCatalog = {
      tables: [...ok.tables, table('recommendations', [['patient_id', false], ['id']]), table('stray', [['id']])],
      uniques: [...ok.uniques, { table: 'recommendations', name: 'recommendations_pkey', columns: ['id'] }],
      foreignKeys: [
        ...ok.foreignKeys,
        { table: 'recommendations', name: 'rec_enc_fkey', columns: ['id'], refTable: 'encounters', refColumns: ['id'], onDelete: 'a' },
        { table: 'doctors', name: 'doctors_patient_fkey', columns: ['id'], refTable: 'patients', refColumns: ['id'], onDelete: 'a' },
        { table: 'recommendations', name: 'rec_pat_fkey', columns: ['patient_id'], refTable: 'patients', refColumns: ['id'], onDelete: 'n' },
        { table: 'encounters', name: 'enc_outbox_fkey', columns: ['id'], refTable: 'outbox_events', refColumns: ['id'], onDelete: 'a' },
      ],
    };
    const problems = readinessProblems(bad, plan);
    expect(problems).toEqual(
      expect.arrayContaining([
        'stray: not in the Citus plan (src/database/citus/citus-plan.ts)',
        'recommendations.patient_id: the distribution column must be NOT NULL',
        'recommendations: unique constraint recommendations_pkey (id) does not include the distribution column patient_id',
        'recommendations: rec_enc_fkey must include patient_id → encounters.patient_id',
        'doctors: doctors_patient_fkey makes a reference table reference the distributed table patients',
        'recommendations: rec_pat_fkey may not SET NULL/DEFAULT the distribution column',
        'encounters: enc_outbox_fkey makes a distributed table reference the coordinator-local table outbox_events',
      ]),
    );
    expect(problems).toHaveLength(7);
  });
});
