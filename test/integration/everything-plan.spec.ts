import { positional } from '../../src/database/prepared-query';
import { FhirRequest } from '../helpers/fhir-request';
import { rawClient } from '../helpers/test-database';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { withSearchStatements } from '../helpers/search-statements';
import { hasSynthea, itWithSynthea, loadSyntheaBundle } from '../helpers/synthea';
import { postTransaction } from '../helpers/search-fixtures';

/**
 * The plan PostgreSQL keeps for Patient/$everything. Its statement is prepared and, after a few
 * runs, executed with a generic plan made from the statistics of that moment. fhir_resource also
 * holds every AuditEvent (about 1.7 kB each), so it grows with each request after those statistics
 * were taken. In the benchmark (Synthea patients loaded, ANALYZE, then requests), the page's rows
 * were joined to fhir_resource through a hash of the whole table, so each page read every AuditEvent
 * written since (565 to 193 requests/s). The same here: three Synthea patients, statistics, then
 * 30,000 AuditEvents; the statement before the change touched all of them, the page's rows are now
 * read by key in lateral subqueries. The outcome is checked, not the plan's shape.
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

const it_ = itWithSynthea();
let patientId = '';

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
  if (!hasSynthea()) return;
  for (let i = 0; i < 3; i++) {
    const stored = await postTransaction(api, loadSyntheaBundle(i));
    if (i === 0) patientId = stored.find((r) => r.resourceType === 'Patient')?.id as string;
  }
}, 120_000);

afterAll(async () => {
  await t?.close();
});

it_('reads the page by key under a generic plan made before fhir_resource grew with 30,000 AuditEvents', async () => {
  // The statement and parameters the service sends.
  const { result: res, sent: seen } = await withSearchStatements(t, () => api.get(`Patient/${patientId}/$everything`));
  expect(res.status).toBe(200);
  expect(res.body.entry).toHaveLength(50);
  expect(res.body.entry[0].resource).toMatchObject({ resourceType: 'Patient', id: patientId });
  expect(res.body.total).toBeGreaterThan(100);
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
    // Statistics of the loaded data, and the generic plan made from them...
    await pg.query('ANALYZE');
    await pg.query('SET plan_cache_mode = force_generic_plan');
    await pg.query({ name: 'everything_page', text: positional(page!.sql), values: page!.params });
    // ...kept while AuditEvents grow the table (inserts do not invalidate it; autovacuum's ANALYZE would, later).
    await auditEvents(1, 30_000);
    const literal = (v: unknown): string =>
      v === null || v === undefined ? 'NULL' : Array.isArray(v) ? `ARRAY[${v.map(literal).join(', ')}]::text[]` : pg.escapeLiteral(String(v));
    const literals = page!.params.map(literal);
    const { rows } = await pg.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE everything_page(${literals.join(', ')})`);
    const plan = rows[0]['QUERY PLAN'][0].Plan;
    const touched = (n: PlanNode): number =>
      (n['Relation Name'] === 'fhir_resource' ? ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0)) * (n['Actual Loops'] ?? 1) : 0) +
      (n.Plans ?? []).reduce((sum, c) => sum + touched(c), 0);
    // A few rows of fhir_resource (the shared resources the compartment refers to), not its 30,000 AuditEvents.
    expect(touched(plan)).toBeLessThan(100);
    // The compartment's references are one range of search_reference_patient, not a probe per
    // compartment resource (over a hundred here); the few other scans are the shared rows' checks.
    const scans = (n: PlanNode): number =>
      (n['Relation Name'] === 'search_reference' ? (n['Actual Loops'] ?? 1) : 0) + (n.Plans ?? []).reduce((sum, c) => sum + scans(c), 0);
    expect(scans(plan)).toBeLessThan(20);
  } finally {
    await pg.end();
  }
});
