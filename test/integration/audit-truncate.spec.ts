import type { Client } from 'pg';
import { createTestDatabase, rawClient, type TestDatabase } from '../helpers/test-database';

/**
 * Migration 002900: TRUNCATE, which no row or INSERT/UPDATE/DELETE trigger sees, is refused on
 * audit_log and recorded in audit_log for every audited table, cascaded ones included.
 */
describe('TRUNCATE and the audit (migration 002900)', () => {
  let db: TestDatabase;
  let pg: Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    pg = await rawClient(db.url);
  });
  afterAll(async () => {
    await pg?.end();
    await db?.drop();
  });

  const logged = async () => Number((await pg.query<{ n: string }>('SELECT count(*) AS n FROM audit_log')).rows[0].n);

  it('audit_log refuses TRUNCATE, in a transaction too, and keeps its rows', async () => {
    await pg.query(`INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, content) VALUES ('Organization', 'o1', 1, now(), '{"resourceType":"Organization","id":"o1"}')`);
    const before = await logged();
    expect(before).toBeGreaterThan(0);
    await pg.query('BEGIN');
    await expect(pg.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    await pg.query('ROLLBACK');
    await expect(pg.query('TRUNCATE audit_log CASCADE')).rejects.toThrow(/append-only/);
    expect(await logged()).toBe(before);
  });

  it('a TRUNCATE of an audited table (and of the tables CASCADE reaches) is recorded with its actor', async () => {
    await pg.query('BEGIN');
    await pg.query("SELECT set_config('app.actor', 'client:dba-test', true)");
    await pg.query('TRUNCATE fhir_patient_resource_history CASCADE');
    await pg.query('TRUNCATE fhir_resource');
    const rows = (
      await pg.query<{ actor: string; table_name: string }>("SELECT actor, table_name FROM audit_log WHERE operation = 'TRUNCATE' ORDER BY id")
    ).rows;
    await pg.query('COMMIT');
    expect(rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(['fhir_patient_resource_history', 'fhir_resource']));
    expect(new Set(rows.map((r) => r.actor))).toEqual(new Set(['client:dba-test']));
  });

  it('every table with an audit trigger has the TRUNCATE trigger', async () => {
    const missing = await pg.query<{ rel: string }>(`
      SELECT DISTINCT tg.tgrelid::regclass::text AS rel FROM pg_trigger tg JOIN pg_proc p ON p.oid = tg.tgfoid
      WHERE p.proname IN ('audit_row_change', 'audit_fhir_store_rows')
        AND NOT EXISTS (SELECT 1 FROM pg_trigger t2 JOIN pg_proc p2 ON p2.oid = t2.tgfoid WHERE t2.tgrelid = tg.tgrelid AND p2.proname = 'audit_truncate')`);
    expect(missing.rows).toEqual([]);
  });
});
