import { DatabaseService } from '../../src/database/database.service';
import { positional } from '../../src/database/prepared-query';
import { FhirRequest } from '../helpers/fhir-request';
import { rawClient } from '../helpers/test-database';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * The plan PostgreSQL keeps for Patient/$everything. Its statement is prepared and, after a few
 * runs, executed with a generic plan made from the statistics of that moment. fhir_resource also
 * holds every AuditEvent (about 1.7 kB each), so it grows with each request after those statistics
 * were taken. In the benchmark, run on a fresh database, the page's rows were joined to fhir_resource
 * through a hash of the whole table, so each page read every AuditEvent written since (565 to 193
 * requests/s); the page's rows are now read by key in a lateral subquery. This checks the outcome
 * (the page touches a few rows of fhir_resource after it grew 150-fold), not the plan's shape, which
 * depends on the statistics: under these the earlier statement passed too.
 */

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

let t: TestApp;
let api: FhirRequest;

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
  expect((await api.put('Practitioner/ep-doc', { resourceType: 'Practitioner', id: 'ep-doc', name: [{ family: 'Okafor' }] })).status).toBe(201);
  expect((await api.put('Patient/ep-pat', { resourceType: 'Patient', id: 'ep-pat', name: [{ family: 'Lindqvist' }] })).status).toBe(201);
  for (let i = 0; i < 3; i++) {
    const obs = {
      resourceType: 'Observation',
      id: `ep-obs-${i}`,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: 'Patient/ep-pat' },
      performer: [{ reference: 'Practitioner/ep-doc' }],
    };
    expect((await api.put(`Observation/ep-obs-${i}`, obs)).status).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  await t?.close();
});

it('reads the page by key under a generic plan made while fhir_resource was small, after the table grew', async () => {
  // The statement and parameters the service sends.
  const db = t.app.get(DatabaseService);
  const seen: Array<{ sql: string; params: unknown[] }> = [];
  const original = db.boundedRead.bind(db);
  const spy = jest.spyOn(db, 'boundedRead').mockImplementation((limit, fn) =>
    original(limit, (tx) =>
      fn({
        query: (sql: string, params: unknown[] = []) => {
          seen.push({ sql, params });
          return tx.query(sql, params);
        },
      } as Parameters<typeof fn>[0]),
    ),
  );
  let res;
  try {
    res = await api.get('Patient/ep-pat/$everything');
  } finally {
    spy.mockRestore();
  }
  expect(res.status).toBe(200);
  expect(res.body.entry.map((e: { resource: { resourceType: string; id: string } }) => `${e.resource.resourceType}/${e.resource.id}`)).toEqual([
    'Patient/ep-pat',
    'Observation/ep-obs-0',
    'Observation/ep-obs-1',
    'Observation/ep-obs-2',
    'Practitioner/ep-doc',
  ]);
  const page = seen.find((s) => s.sql.includes('WITH refs'));
  expect(page).toBeDefined();

  const pg = await rawClient(t.db.url);
  const auditEvents = (from: number, to: number) =>
    pg.query(
      `INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, deleted, content)
       SELECT 'AuditEvent', 'ep-ae-' || n, 1, now(), false, jsonb_build_object('resourceType', 'AuditEvent', 'id', 'ep-ae-' || n, 'outcomeDesc', repeat('x', 1500))
       FROM generate_series($1::int, $2::int) n`,
      [from, to],
    );
  try {
    // Statistics of a small fhir_resource (AuditEvents of a realistic size), and the generic plan made from them...
    await auditEvents(1, 200);
    await pg.query('ANALYZE');
    await pg.query('SET plan_cache_mode = force_generic_plan');
    await pg.query({ name: 'everything_page', text: positional(page!.sql), values: page!.params });
    // ...kept while the table grows (inserts do not invalidate it; autovacuum would, later).
    await auditEvents(201, 30_000);
    const literal = (v: unknown): string =>
      v === null || v === undefined ? 'NULL' : Array.isArray(v) ? `ARRAY[${v.map(literal).join(', ')}]::text[]` : pg.escapeLiteral(String(v));
    const literals = page!.params.map(literal);
    const { rows } = await pg.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE everything_page(${literals.join(', ')})`);
    const plan = rows[0]['QUERY PLAN'][0].Plan;
    const touched = (n: PlanNode): number =>
      (n['Relation Name'] === 'fhir_resource' ? ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0)) * (n['Actual Loops'] ?? 1) : 0) +
      (n.Plans ?? []).reduce((sum, c) => sum + touched(c), 0);
    // The page holds one shared resource: a few rows of fhir_resource, not its 30,000 AuditEvents.
    expect(touched(plan)).toBeLessThan(100);
  } finally {
    await pg.end();
  }
});
