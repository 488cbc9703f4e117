import { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from 'pg';
import { AUDITED_TABLES } from '../../migrations/Migration20261126000100_foundation';
import { FHIR_STORE_TABLES } from '../../migrations/Migration20261127002200_fhir_store_audit_statements';
import { mikroOrmConfig } from '../../src/database/mikro-orm.config';
import { DoctorRow, ENTITIES } from '../../src/database/entities';
import { createTestDatabase, rawClient, type TestDatabase } from '../helpers/test-database';

/**
 * The migrated schema against the seed (seed/schema.md) and against the MikroORM entities.
 * The seed's columns are written out here, independently of the migration, so that a migration
 * that drops or renames one of them fails this suite.
 */
const SEED_COLUMNS: Record<string, string[]> = {
  patients: ['id', 'name', 'dob', 'contact_info', 'national_id', 'created_at', 'updated_at'],
  doctors: ['id', 'name', 'specialty', 'schedule', 'created_at'],
  appointments: ['id', 'patient_id', 'doctor_id', 'date_time', 'status', 'ai_conflict_resolved'],
  beds: ['id', 'room_number', 'occupied', 'patient_id', 'occupancy_prediction'],
  resources: ['id', 'type', 'availability', 'predictive_maintenance'],
  ehr_records: ['id', 'patient_id', 'record_type', 'data', 'blockchain_hash', 'created_at'],
  monitoring_data: ['id', 'patient_id', 'device_type', 'readings', 'timestamp', 'anomaly_alert'],
  diagnoses: ['id', 'patient_id', 'doctor_id', 'ai_supported', 'diagnosis_text', 'confidence_score', 'created_at'],
  recommendations: ['id', 'patient_id', 'diagnosis_id', 'recommendation', 'ai_generated', 'approved_by_doctor'],
  ai_models: ['id', 'name', 'version', 'accuracy', 'last_trained', 'federated'],
  billing: ['id', 'patient_id', 'amount', 'status', 'ai_error_detected', 'created_at'],
  feedback: ['id', 'patient_id', 'rating', 'comments', 'sentiment_score', 'created_at'],
  triage: ['id', 'patient_id', 'priority_score', 'symptoms', 'ai_predicted', 'created_at'],
  icu_monitoring: ['id', 'patient_id', 'vital_signs', 'alerts', 'timestamp'],
  emergency_alerts: ['id', 'patient_id', 'alert_type', 'response_status', 'geolocation', 'created_at'],
  therapy_sessions: ['id', 'patient_id', 'session_data', 'sentiment_analysis', 'ai_response', 'created_at'],
  stress_data: ['id', 'patient_id', 'readings', 'intervention_suggested', 'timestamp'],
  wellness_plans: ['id', 'patient_id', 'plan_details', 'ai_generated', 'progress'],
  prescriptions: ['id', 'patient_id', 'medication', 'dosage', 'adherence_rate', 'created_at'],
  inventory: ['id', 'medication', 'stock_level', 'expiry_date', 'reorder_alert'],
  adherence_tracking: ['id', 'prescription_id', 'taken', 'timestamp'],
};

/**
 * Seed tables that belong to one patient (sharded on patient_id). beds is deliberately absent: a bed
 * is a shared reference table whose patient_id names its current occupant. adherence_tracking has no
 * patient_id in the seed but belongs to the patient of its prescription.
 */
const PATIENT_OWNED = [
  'appointments', 'ehr_records', 'monitoring_data', 'diagnoses', 'recommendations', 'billing', 'feedback',
  'triage', 'icu_monitoring', 'emergency_alerts', 'therapy_sessions', 'stress_data', 'wellness_plans',
  'prescriptions', 'adherence_tracking',
];

interface DbColumn {
  name: string;
  type: string;
  nullable: boolean;
}

let db: TestDatabase;
let pg: Client;
let columns: Map<string, Map<string, DbColumn>>;

async function primaryKey(table: string): Promise<string[]> {
  const { rows } = await pg.query<{ attname: string }>(
    `SELECT a.attname FROM pg_index i
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1::regclass AND i.indisprimary
      ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [table],
  );
  return rows.map((r) => r.attname);
}

beforeAll(async () => {
  db = await createTestDatabase();
  pg = await rawClient(db.url);
  const { rows } = await pg.query<{ table_name: string; column_name: string; type: string; nullable: boolean }>(
    `SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type,
            NOT a.attnotnull AS nullable
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`,
  );
  columns = new Map();
  for (const r of rows) {
    if (!columns.has(r.table_name)) columns.set(r.table_name, new Map());
    columns.get(r.table_name)!.set(r.column_name, { name: r.column_name, type: r.type, nullable: r.nullable });
  }
});

afterAll(async () => {
  await pg?.end();
  await db?.drop();
});

describe('the seed tables', () => {
  it('are all 21 there', () => {
    expect(Object.keys(SEED_COLUMNS)).toHaveLength(21);
    for (const table of Object.keys(SEED_COLUMNS)) expect([table, columns.has(table)]).toEqual([table, true]);
  });

  for (const [table, cols] of Object.entries(SEED_COLUMNS)) {
    it(`${table} keeps every seed column`, () => {
      const actual = columns.get(table);
      const missing = cols.filter((c) => !actual?.has(c));
      expect(missing).toEqual([]);
    });
  }

  it.each(PATIENT_OWNED)('%s has a primary key that starts with patient_id', async (table) => {
    const key = await primaryKey(table);
    expect(key[0]).toBe('patient_id');
    expect(key).toEqual(['patient_id', 'id']);
  });

  it('keeps a single-column primary key on the shared tables', async () => {
    for (const table of ['patients', 'doctors', 'beds', 'resources', 'ai_models', 'inventory']) {
      expect([table, await primaryKey(table)]).toEqual([table, ['id']]);
    }
  });
});

describe('the fhir_id domain', () => {
  const accepts = async (value: string): Promise<boolean> => {
    try {
      // An assignment (not a cast, which would cut a long value to 64 characters): as a write does.
      await pg.query('CREATE TEMP TABLE IF NOT EXISTS id_probe (id fhir_id)');
      await pg.query('INSERT INTO id_probe VALUES ($1)', [value]);
      return true;
    } catch {
      return false;
    }
  };

  it('takes FHIR ids (1 to 64 of A-Z a-z 0-9 - .) and nothing else', async () => {
    for (const ok of ['a', 'A-b.9', '01a22258-77e0-7e58-8e96-800b8aa3e602', 'x'.repeat(64), '...', '-']) expect([ok, await accepts(ok)]).toEqual([ok, true]);
    for (const bad of ['', 'x'.repeat(65), 'a_b', 'a b', 'a/b', 'ünï', 'a\nb', 'a\n', ' a', "a'b", 'Patient/1']) expect([bad, await accepts(bad)]).toEqual([bad, false]);
  });

  it('checks without a bounded repeat (PostgreSQL expands `{1,64}` into 64 states: 12 µs an id, on every id column of every row written)', async () => {
    const { rows } = await pg.query<{ def: string }>(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE contypid = 'fhir_id'::regtype`);
    expect(rows).toHaveLength(1);
    expect(rows[0].def).not.toMatch(/\{\d*,?\d*\}/);
    expect(rows[0].def).toContain('length');
  });
});

describe('audit', () => {
  it('covers every seed table', () => {
    for (const table of Object.keys(SEED_COLUMNS)) expect(AUDITED_TABLES).toContain(table);
  });

  const storeTables = FHIR_STORE_TABLES.map(([t]) => t);

  it.each(AUDITED_TABLES.filter((t) => !storeTables.includes(t)))('%s has a row-level AFTER INSERT/UPDATE/DELETE audit trigger', async (table) => {
    const { rows } = await pg.query<{ tgtype: number }>(
      `SELECT t.tgtype FROM pg_trigger t
        WHERE t.tgrelid = $1::regclass AND NOT t.tgisinternal AND t.tgenabled <> 'D'
          AND t.tgfoid = 'audit_row_change'::regproc`,
      [table],
    );
    expect(rows).toHaveLength(1);
    const type = rows[0].tgtype;
    // pg_trigger.tgtype bits: 1 ROW, 2 BEFORE, 4 INSERT, 8 DELETE, 16 UPDATE.
    expect(type & (1 | 4 | 8 | 16)).toBe(1 | 4 | 8 | 16);
    expect(type & 2).toBe(0);
  });

  it.each(storeTables)('%s has statement-level AFTER INSERT, UPDATE and DELETE audit triggers', async (table) => {
    const { rows } = await pg.query<{ tgtype: number }>(
      `SELECT t.tgtype FROM pg_trigger t
        WHERE t.tgrelid = $1::regclass AND NOT t.tgisinternal AND t.tgenabled <> 'D' AND t.tgfoid = 'audit_fhir_store_rows'::regproc`,
      [table],
    );
    // pg_trigger.tgtype bits: 1 ROW, 2 BEFORE, 4 INSERT, 8 DELETE, 16 UPDATE.
    expect(rows.map((r) => r.tgtype & (1 | 2 | 4 | 8 | 16)).sort((a, b) => a - b)).toEqual([4, 8, 16]);
  });

  it.each(FHIR_STORE_TABLES)('%s: the statement triggers write the rows the generic row trigger writes', async (table, patientOwned, history) => {
    // A twin of the table with the generic row trigger: the same statements on both must give the same audit rows.
    const key = [...(patientOwned ? ['patient_id'] : []), 'resource_type', 'id', ...(history ? ['version_id'] : [])];
    const twin = `twin_${table}`;
    const p = patientOwned ? "'pat-a', " : '';
    const pc = patientOwned ? 'patient_id, ' : '';
    const statements = [
      `INSERT INTO %t (${pc}resource_type, id, version_id, last_updated, deleted, content) VALUES (${p}'Observation', 'o1', 1, '2026-01-01', false, '{"a":1}'), (${p}'Observation', 'o2', 1, '2026-01-01', false, '{"b":2}')`,
      `INSERT INTO %t (${pc}resource_type, id, version_id, last_updated, deleted, content_enc, key_id) VALUES (${p}'Patient', 'p1', 1, '2026-01-01', false, '\\x0102', 1)`,
      `UPDATE %t SET content = '{"a":2}', last_updated = '2026-01-02' WHERE id = 'o1'`,
      `UPDATE %t SET content = content WHERE id = 'o2'`,
      `UPDATE %t SET content_enc = '\\x0304', key_id = 2 WHERE id = 'p1'`,
      // The store's upsert of a current version: one row updated, one inserted, in one statement.
      `INSERT INTO %t (${pc}resource_type, id, version_id, last_updated, deleted, content) VALUES (${p}'Observation', 'o1', 1, '2026-01-03', false, '{"a":3}'), (${p}'Observation', 'o3', 1, '2026-01-03', false, '{"c":3}')
         ON CONFLICT (${key.join(', ')}) DO UPDATE SET content = EXCLUDED.content, last_updated = EXCLUDED.last_updated`,
      `DELETE FROM %t WHERE id IN ('o2', 'p1')`,
      // History rows also record the request that made the version (migration 002500).
      ...(history
        ? [
            `INSERT INTO %t (${pc}resource_type, id, version_id, last_updated, deleted, content, request_method, response_status) VALUES (${p}'Observation', 'o4', 1, '2026-01-04', false, '{"d":4}', 'PUT', 201)`,
            // A version carried over from another owner records its owner when written (migration 001100).
            `INSERT INTO %t (${pc}resource_type, id, version_id, last_updated, deleted, content, moved, filed_patient_id) VALUES (${p}'Observation', 'o5', 1, '2026-01-05', false, '{"e":5}', true, 'pat-b')`,
          ]
        : []),
    ];
    const audit = async (name: string) =>
      (
        await pg.query(
          `SELECT patient_id, actor, request_id, operation, row_key, changed_columns FROM audit_log WHERE table_name = $1 ORDER BY id`,
          [name],
        )
      ).rows;
    await pg.query('BEGIN');
    try {
      await pg.query(`SELECT set_config('app.actor', 'twin-test', true), set_config('app.request_id', 'req-1', true)`);
      await pg.query(`CREATE TABLE ${twin} (LIKE ${table} INCLUDING ALL)`);
      await pg.query(`CREATE TRIGGER ${twin}_audit AFTER INSERT OR UPDATE OR DELETE ON ${twin} FOR EACH ROW EXECUTE FUNCTION audit_row_change(${key.map((k) => `'${k}'`).join(', ')})`);
      for (const sql of statements) {
        await pg.query(sql.replace('%t', table));
        await pg.query(sql.replace('%t', twin));
      }
      const real = await audit(table);
      expect(real.length).toBe(history ? 12 : 10);
      if (history) expect(real[10].changed_columns).toEqual(expect.arrayContaining(['request_method', 'response_status']));
      if (history) expect(real[11].changed_columns).toEqual(expect.arrayContaining(['filed_patient_id', 'moved']));
      expect(real).toEqual(await audit(twin));
      expect(real[0]).toMatchObject({ actor: 'twin-test', request_id: 'req-1', operation: 'INSERT', patient_id: patientOwned ? 'pat-a' : '' });
      // A key may not change by UPDATE (the pairs of old and new rows would be lost).
      await pg.query('SAVEPOINT k');
      await expect(pg.query(`UPDATE ${table} SET id = 'o9' WHERE id = 'o1'`)).rejects.toThrow(/cannot be changed by UPDATE/);
      await pg.query('ROLLBACK TO SAVEPOINT k');
    } finally {
      await pg.query('ROLLBACK');
    }
  });

  it("writes no audit_log row for the request AuditEvents the server itself records (they are the audit), and one for any other", async () => {
    await pg.query('BEGIN');
    try {
      await pg.query(`SELECT set_config('app.actor', 'system:audit', true)`);
      await pg.query(`INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, content) VALUES ('AuditEvent', 'ae-1', 1, now(), '{}'), ('Organization', 'org-ae', 1, now(), '{}')`);
      await pg.query(`SELECT set_config('app.actor', 'client:admin', true)`);
      await pg.query(`INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, content) VALUES ('AuditEvent', 'ae-2', 1, now(), '{}')`);
      const { rows } = await pg.query(`SELECT actor, row_key->>'id' AS id FROM audit_log WHERE table_name = 'fhir_resource' AND row_key->>'id' IN ('ae-1', 'ae-2', 'org-ae') ORDER BY id`);
      expect(rows).toEqual([
        { actor: 'client:admin', id: 'ae-2' },
        { actor: 'system:audit', id: 'org-ae' },
      ]);
    } finally {
      await pg.query('ROLLBACK');
    }
  });

  it('records the actor named by the transaction, the table, the operation and the row key', async () => {
    await pg.query('BEGIN');
    try {
      await pg.query(`SELECT set_config('app.actor', 'test-actor', true)`);
      await pg.query(`INSERT INTO patients (id, name) VALUES ('audit-pat-1', 'Audit Patient')`);
      await pg.query(`INSERT INTO appointments (patient_id, id, status) VALUES ('audit-pat-1', 'audit-appt-1', 'booked')`);
      await pg.query('COMMIT');
    } catch (e) {
      await pg.query('ROLLBACK');
      throw e;
    }
    const { rows } = await pg.query(
      `SELECT actor, table_name, operation, row_key, changed_columns FROM audit_log
        WHERE table_name IN ('patients', 'appointments') AND row_key->>'id' IN ('audit-pat-1', 'audit-appt-1')
        ORDER BY id`,
    );
    expect(rows).toEqual([
      expect.objectContaining({ actor: 'test-actor', table_name: 'patients', operation: 'INSERT', row_key: { id: 'audit-pat-1' } }),
      expect.objectContaining({
        actor: 'test-actor',
        table_name: 'appointments',
        operation: 'INSERT',
        row_key: { patient_id: 'audit-pat-1', id: 'audit-appt-1' },
      }),
    ]);
    expect(rows[1].changed_columns).toEqual(expect.arrayContaining(['id', 'patient_id', 'status']));

    // The actor was local to that transaction: a change made outside the application names the role.
    await pg.query(`UPDATE appointments SET status = 'fulfilled' WHERE patient_id = 'audit-pat-1' AND id = 'audit-appt-1'`);
    const upd = await pg.query(
      `SELECT actor, operation, changed_columns FROM audit_log WHERE table_name = 'appointments' AND operation = 'UPDATE'
        AND row_key = '{"patient_id":"audit-pat-1","id":"audit-appt-1"}'::jsonb`,
    );
    expect(upd.rows).toEqual([{ actor: 'db:postgres', operation: 'UPDATE', changed_columns: ['status'] }]);
  });

  it('refuses UPDATE and DELETE on audit_log', async () => {
    const { rows } = await pg.query<{ n: string }>('SELECT count(*) AS n FROM audit_log');
    expect(Number(rows[0].n)).toBeGreaterThan(0);
    await expect(pg.query(`UPDATE audit_log SET actor = 'forged'`)).rejects.toThrow(/append-only/);
    await expect(pg.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
    const after = await pg.query<{ n: string; forged: string }>(
      `SELECT count(*) AS n, count(*) FILTER (WHERE actor = 'forged') AS forged FROM audit_log`,
    );
    expect(after.rows[0]).toEqual({ n: rows[0].n, forged: '0' });
  });
});

describe('MikroORM entities', () => {
  let orm: MikroORM;

  beforeAll(async () => {
    orm = await MikroORM.init(mikroOrmConfig({ databaseUrl: db.url }, 2));
  });

  afterAll(async () => {
    await orm?.close(true);
  });

  /** The ORM's column type spelled the way format_type() spells it. */
  function canonical(columnType: string): string {
    const t = columnType.toLowerCase().replace(/\s+/g, '');
    if (t === 'int' || t === 'int4' || t === 'serial') return 'integer';
    if (t === 'bigserial' || t === 'int8') return 'bigint';
    if (t === 'timestamp') return 'timestamp without time zone';
    if (t === 'timestamptz') return 'timestamp with time zone';
    let m = /^varchar\((\d+)\)$/.exec(t);
    if (m) return `character varying(${m[1]})`;
    m = /^(?:decimal|numeric)\((\d+),(\d+)\)$/.exec(t);
    if (m) return `numeric(${m[1]},${m[2]})`;
    return t;
  }

  it('has one entity per table of the schema', () => {
    const metas = Object.values(orm.getMetadata().getAll()).filter((m) => !m.embeddable && !m.virtual);
    expect(metas).toHaveLength(ENTITIES.length);
    const tables = metas.map((m) => m.tableName).sort();
    const dbTables = [...columns.keys()].filter((t) => t !== 'mikro_orm_migrations').sort();
    expect(tables).toEqual(dbTables);
  });

  it('maps every property to an existing column of the right type and nullability, and every column to a property', async () => {
    const problems: string[] = [];
    for (const meta of Object.values(orm.getMetadata().getAll())) {
      if (meta.embeddable || meta.virtual) continue;
      const table = columns.get(meta.tableName);
      if (!table) {
        problems.push(`${meta.className}: no table ${meta.tableName}`);
        continue;
      }
      const mapped = new Set<string>();
      for (const prop of meta.props) {
        if (prop.persist === false) continue;
        prop.fieldNames.forEach((field, i) => {
          mapped.add(field);
          const col = table.get(field);
          if (!col) {
            problems.push(`${meta.className}.${prop.name}: no column ${meta.tableName}.${field}`);
            return;
          }
          const ormType = canonical(prop.columnTypes[i]);
          if (ormType !== col.type) problems.push(`${meta.className}.${prop.name}: ${ormType} but ${meta.tableName}.${field} is ${col.type}`);
          if (!prop.primary && !!prop.nullable !== col.nullable) {
            problems.push(`${meta.className}.${prop.name}: nullable ${!!prop.nullable} but column nullable ${col.nullable}`);
          }
        });
      }
      for (const col of table.keys()) if (!mapped.has(col)) problems.push(`${meta.tableName}.${col}: no property`);
      const pk = await primaryKey(meta.tableName);
      const ormPk = meta.primaryKeys.flatMap((p) => meta.properties[p].fieldNames);
      // The search index tables have no primary key; their entities declare one for the ORM only.
      const indexTable = meta.tableName.startsWith('search_') && pk.length === 0;
      if (!indexTable && pk.join(',') !== ormPk.join(',')) problems.push(`${meta.className}: primary key (${ormPk}) but table has (${pk})`);
    }
    expect(problems).toEqual([]);
  });

  it('round-trips a DoctorRow', async () => {
    const em = orm.em.fork();
    const doctor = em.create(DoctorRow, { id: 'doc-1', name: 'Dr Test' });
    await em.persistAndFlush(doctor);
    expect(doctor.createdAt).toBeInstanceOf(Date);

    const read = await orm.em.fork().findOneOrFail(DoctorRow, { id: 'doc-1' });
    expect(read).toMatchObject({ id: 'doc-1', name: 'Dr Test', specialty: null, schedule: null });
    expect(read.createdAt).toBeInstanceOf(Date);

    const raw = await pg.query('SELECT id, name FROM doctors WHERE id = $1', ['doc-1']);
    expect(raw.rows).toEqual([{ id: 'doc-1', name: 'Dr Test' }]);
  });
});
