import { Client } from 'pg';
import { CITUS_PLAN } from '../../src/database/citus/citus-plan';
import { distributeOnCitus } from '../../src/database/citus/citus-distribution';
import { loadSchemaCatalog, readinessProblems } from '../../src/database/citus/citus-readiness';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

/**
 * The migrated schema keeps the rules Citus enforces for our distribution plan (checked on plain
 * PostgreSQL from the catalog), so a new table or constraint that would break distribution fails
 * here, not on a customer's cluster. Citus itself cannot be installed on this machine; see
 * docs/SCALING.md for what was and was not run against it.
 */
let db: TestDatabase;
let client: Client;

beforeAll(async () => {
  db = await createTestDatabase();
  client = new Client({ connectionString: db.url });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

it('plans every table of the schema and breaks none of Citus\'s rules', async () => {
  const catalog = await loadSchemaCatalog(client);
  expect(catalog.tables.map((t) => t.table)).toEqual(expect.arrayContaining(['patients', 'fhir_patient_resource', 'search_token', 'audit_log']));
  expect(readinessProblems(catalog, CITUS_PLAN)).toEqual([]);
});

it('leaves plain PostgreSQL alone', async () => {
  expect(await distributeOnCitus(client)).toEqual([]);
});

it('attributes audit rows to the patient of the row they describe, and names the table, not a shard', async () => {
  await client.query(`INSERT INTO patients (id, name) VALUES ('citus-p1', 'C')`);
  await client.query(`INSERT INTO doctors (id, name) VALUES ('citus-d1', 'Dr C')`);
  await client.query(`INSERT INTO encounters (patient_id, id, doctor_id) VALUES ('citus-p1', 'citus-e1', 'citus-d1')`);
  const { rows } = await client.query<{ table_name: string; patient_id: string }>(
    `SELECT table_name, patient_id FROM audit_log WHERE row_key->>'id' IN ('citus-p1', 'citus-d1', 'citus-e1') ORDER BY table_name`,
  );
  expect(rows).toEqual([
    { table_name: 'doctors', patient_id: '' },
    { table_name: 'encounters', patient_id: 'citus-p1' },
    { table_name: 'patients', patient_id: 'citus-p1' },
  ]);
});
