import { positional } from '../../src/database/prepared-query';
import { FhirRequest } from '../helpers/fhir-request';
import { rawClient } from '../helpers/test-database';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { withSearchStatements } from '../helpers/search-statements';

/**
 * A search for one resource by id with its _revinclude (`Patient?_id=X&_revinclude=Encounter:subject`)
 * sends two prepared statements: the page, and the resources that refer to it. With the id and the
 * target passed as one-element arrays (`= ANY(array)`, `IN (SELECT * FROM unnest(...))`),
 * PostgreSQL costed their generic plans at ten elements, so it never chose them and planned both
 * statements at every execution (about 0.3 ms each, half the scenario's PostgreSQL time in the
 * benchmark). With one value they are plain equalities, and after its five custom plans PostgreSQL
 * keeps the generic one.
 */

it('runs the page and the _revinclude of one id under generic plans once PostgreSQL has seen them', async () => {
  const t = await startTestApp();
  try {
    await checkPlans(t, FhirRequest.of(t));
  } finally {
    await t.close();
  }
});

async function checkPlans(t: TestApp, api: FhirRequest): Promise<void> {
  const patient = await api.post('Patient', { resourceType: 'Patient', name: [{ family: 'OneId' }] });
  expect(patient.status).toBe(201);
  const pid = patient.body.id as string;
  for (let i = 0; i < 3; i++) {
    const enc = await api.post('Encounter', { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient/${pid}` } });
    expect(enc.status).toBe(201);
  }

  // The statements and parameters the service sends.
  const { result: res, sent: seen } = await withSearchStatements(t, () => api.get(`Patient?_id=${pid}&_revinclude=Encounter:subject`));
  expect(res.status).toBe(200);
  const entries = res.body.entry as Array<{ resource: { resourceType: string }; search: { mode: string } }>;
  expect(entries.map((e) => `${e.resource.resourceType} ${e.search.mode}`).sort()).toEqual(['Encounter include', 'Encounter include', 'Encounter include', 'Patient match']);
  expect(seen).toHaveLength(2);

  const pg = await rawClient(t.db.url);
  try {
    // Statistics of a database with some data (40,000 references to 4,000 other patients'
    // resources): on a near-empty one every plan costs alike and PostgreSQL keeps any of them.
    await pg.query(
      `INSERT INTO search_reference (patient_id, resource_type, resource_id, code, target_type, target_id)
       SELECT 'op-' || (n % 4000), 'Encounter', 'oe-' || n, 'subject', 'Patient', 'op-' || (n % 4000) FROM generate_series(1, 40000) n`,
    );
    await pg.query('ANALYZE');
    for (const [n, s] of seen.entries()) {
      const name = `one_id_${n}`;
      for (let i = 0; i < 8; i++) await pg.query({ name, text: positional(s.sql), values: s.params });
      const { rows } = await pg.query<{ generic_plans: string; custom_plans: string }>('SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1', [name]);
      expect([n, Number(rows[0].generic_plans)]).toEqual([n, 3]);
    }
  } finally {
    await pg.end();
  }
}
