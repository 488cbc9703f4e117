import { FhirRequest } from '../helpers/fhir-request';
import { rawClient } from '../helpers/test-database';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * SEARCH_TIMEOUT_MS: a search statement that runs too long is stopped, answered 400 too-costly (an
 * OperationOutcome without SQL), and its connection goes back to the pool, so more such searches
 * than the pool has connections never block the server. A lock held on the string index makes the
 * searches wait (lock waits count toward statement_timeout), whatever the machine's speed.
 */

const TIMEOUT_MS = 300;
const POOL = 2;
let t: TestApp;
let api: FhirRequest;

beforeAll(async () => {
  t = await startTestApp({ SEARCH_TIMEOUT_MS: String(TIMEOUT_MS), PG_POOL_MAX: String(POOL), SEARCH_POOL_MAX: String(POOL) });
  api = FhirRequest.of(t);
  const res = await api.put('Patient/to-p1', { resourceType: 'Patient', id: 'to-p1', name: [{ family: 'Strand' }] });
  expect(res.status).toBe(201);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

/** Runs `fn` while another session holds an exclusive lock on `table`: reads of it wait until statement_timeout. */
async function whileLocked(table: string, fn: () => Promise<void>): Promise<void> {
  const locker = await rawClient(t.db.url);
  try {
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    await fn();
  } finally {
    await locker.query('ROLLBACK');
    await locker.end();
  }
}

it('stops searches over the limit with too-costly, frees their connections, and leaves the settings of the pool alone', async () => {
  await whileLocked('search_string', async () => {
    // Twice as many as the pool has connections: without the limit they would all wait for the lock.
    const answers = await Promise.all(Array.from({ length: POOL * 2 }, () => api.get('Patient?name=Stra')));
    for (const res of answers) {
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'too-costly' }] });
      expect(res.body.issue[0].diagnostics).toContain(`${TIMEOUT_MS} ms`);
      expect(JSON.stringify(res.body)).not.toMatch(/SELECT |FROM |search_string|canceling statement/);
    }
  });
  // The connections are back; writes, on connections searches never use, have no such limit.
  const after = await api.get('Patient?name=Stra');
  expect(after.status).toBe(200);
  expect(after.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual(['to-p1']);
});

it('stops a $everything over the limit the same way', async () => {
  await whileLocked('fhir_patient_resource', async () => {
    const res = await api.get('Patient/to-p1/$everything');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'too-costly' }] });
  });
  const after = await api.get('Patient/to-p1/$everything');
  expect(after.status).toBe(200);
  expect(after.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual(['to-p1']);
  const write = await api.put('Patient/to-p1', { resourceType: 'Patient', id: 'to-p1', name: [{ family: 'Strand' }], active: true });
  expect(write.status).toBe(200);
});
