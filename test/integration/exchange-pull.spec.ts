/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from 'pg';
import request from 'supertest';
import type { Resource } from '@medplum/fhirtypes';
import { DatabaseService } from '../../src/database/database.service';
import { AI_SOURCE } from '../../src/ai/ai-plugin';
import { ConnectionRepository, type FailureRow } from '../../src/exchange/connection.repository';
import { SyncRunRepository, type SyncRunRow } from '../../src/exchange/sync-runs.repository';
import { remoteReferencesOf } from '../../src/exchange/pull/remote-references';
import { SyncScheduler } from '../../src/exchange/pull/sync-scheduler.service';
import type { ConnectionAuth } from '../../src/exchange/remote-fhir.client';
import type { Json } from '../helpers/fhir-api';
import { FhirRequest } from '../helpers/fhir-request';
import { postTransaction } from '../helpers/search-fixtures';
import { hasSynthea, itWithSynthea, syntheaBundleFiles, loadSyntheaBundle } from '../helpers/synthea';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { SyncDispatcher } from '../../src/exchange/pull/sync-dispatcher.service';

/**
 * The pull (issue #10) between two instances of this server in this process: a "remote" EHR
 * holding a Synthea patient, and the local server whose worker (in process) pulls it through
 * fhir-kit-client. Misbehaving remotes (500s, invalid resources, paging) are a tiny HTTP server.
 * Expected contents come from what was loaded into the remote, not from the local server.
 */

// Quick pick-up, quick retries (3 attempts), so failures are reported within seconds.
process.env.EXCHANGE_SYNC_POLL_MS = '200';
process.env.EXCHANGE_SYNC_BACKOFF_MS = '200';
process.env.EXCHANGE_SYNC_ATTEMPTS = '3';
// Scheduling is driven by the test (SyncScheduler.tick), not by the timer.
process.env.EXCHANGE_SYNC_SCHEDULE_MS = '3600000';
const PAGE_SIZE = 20;
/** Longest a remote request may take here (the fake remote that never answers). */
const TIMEOUT_MS = 5000;

let remote: TestApp;
let local: TestApp;
let worker: TestWorker;
let pg: Client;
let fake: FakeRemote;

beforeAll(async () => {
  [remote, local] = await Promise.all([startTestApp(), startTestApp({ CONNECTION_ALLOW_PRIVATE_ENDPOINTS: 'true', EXCHANGE_PAGE_SIZE: String(PAGE_SIZE), EXCHANGE_TIMEOUT_MS: String(TIMEOUT_MS) })]);
  worker = await startTestWorker(local.config);
  pg = await rawClient(local.db.url);
  fake = await FakeRemote.start();
}, 120000);

afterAll(async () => {
  await worker?.close();
  await pg?.end();
  await fake?.close();
  await Promise.all([local?.close(), remote?.close()]);
});

// ---- helpers ------------------------------------------------------------------------------------

/** A connection stored as the connections API would (row + Endpoint of the same id). */
async function connect(name: string, baseUrl: string, auth: ConnectionAuth, resourceTypes: string[] | null = null): Promise<string> {
  const id = randomUUID();
  await local.app.get(DatabaseService).transaction({ actor: 'test' }, (tx) => local.app.get(ConnectionRepository).insert(tx, { id, name, baseUrl, auth, resourceTypes }));
  const endpoint = {
    resourceType: 'Endpoint',
    id,
    status: 'active',
    name,
    connectionType: { system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type', code: 'hl7-fhir-rest' },
    payloadType: [{ text: 'FHIR R4' }],
    address: baseUrl,
  };
  const res = await FhirRequest.of(local).put(`Endpoint/${id}`, endpoint);
  expect([200, 201]).toContain(res.status);
  return id;
}

/** Asks for a sync (as POST /api/connections/{id}/sync does) and waits until the worker has finished it. */
async function sync(connectionId: string, timeoutMs = 90000): Promise<SyncRunRow> {
  const runs = local.app.get(SyncRunRepository);
  const { run } = await runs.request(connectionId, 'manual');
  return waitFor(`sync run ${run.id}`, async () => {
    const r = await runs.get(run.id);
    return r && (r.status === 'succeeded' || r.status === 'failed') ? r : undefined;
  }, timeoutMs, 100);
}

async function mappings(connectionId: string): Promise<Map<string, { localId: string; version: string | null }>> {
  const rows = await pg.query<{ resource_type: string; remote_id: string; local_id: string; remote_version_id: string | null }>(
    'SELECT resource_type, remote_id, local_id, remote_version_id FROM exchange_remote_resources WHERE connection_id = $1',
    [connectionId],
  );
  return new Map(rows.rows.map((r) => [`${r.resource_type}/${r.remote_id}`, { localId: r.local_id, version: r.remote_version_id }]));
}

async function localRead(type: string, id: string): Promise<Json> {
  const res = await FhirRequest.of(local).get(`${type}/${id}`);
  if (res.status !== 200) throw new Error(`local ${type}/${id} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as Json;
}

const failuresOf = (connectionId: string): Promise<FailureRow[]> => local.app.get(ConnectionRepository).failures(connectionId, 100);

/** Every `Type/id` reference string in a resource. */
function referenceStrings(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => referenceStrings(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else referenceStrings(v, out);
    }
  }
  return out;
}

// ---- a remote instance of this server with a Synthea patient ----------------------------------------

describe('pull from another instance of this server', () => {
  const it_ = itWithSynthea();
  // The smallest bundle, to keep the suite quick.
  const bundleIndex = hasSynthea() ? smallestBundle() : 0;
  let connectionId: string;
  let remoteBase: string;
  /** What the remote stored (its ids, references to its ids). */
  let stored: Json[] = [];
  let first: SyncRunRow;

  beforeAll(async () => {
    if (!hasSynthea()) return;
    stored = await postTransaction(FhirRequest.of(remote), loadSyntheaBundle(bundleIndex));
    remoteBase = `${remote.baseUrl}/fhir`;
    // No resource types: what the remote's CapabilityStatement says it can search.
    connectionId = await connect('remote-ehr', remoteBase, { type: 'bearer', token: remote.token });
    first = await sync(connectionId, 180000);
  }, 240000);

  it_('stores every remote resource of the patient, with the remote id as identifier and meta.source', async () => {
    expect(first.status).toBe('succeeded');
    expect(first.failed).toBe(0);
    const map = await mappings(connectionId);
    // Everything the remote holds was created here once (the remote may hold more than the bundle, e.g. its model Devices).
    expect(first.resourcesIn).toBe(map.size);
    for (const r of stored) {
      const key = `${r.resourceType}/${r.id}`;
      const m = map.get(key);
      expect({ key, mapped: !!m }).toEqual({ key, mapped: true });
      const copy = await localRead(r.resourceType, (m as { localId: string }).localId);
      expect(copy.meta.source).toBe(`${remoteBase}/${key}`);
      expect(copy.meta.source).not.toBe(AI_SOURCE);
      expect(copy.identifier).toEqual(expect.arrayContaining([{ system: remoteBase, value: key }]));
      expect(copy.id).not.toBe(r.id);
      expect(copy.meta.versionId).toBe('1');
    }
    const connection = await local.app.get(ConnectionRepository).get(connectionId);
    expect(connection).toMatchObject({ lastSyncStatus: 'succeeded', resourcesIn: first.resourcesIn });
    expect(connection?.lastSyncAt).toBeTruthy();
  });

  it_('points every reference at the local copy of what it referred to remotely', async () => {
    const map = await mappings(connectionId);
    const patient = stored.find((r) => r.resourceType === 'Patient') as Json;
    const localPatientId = map.get(`Patient/${patient.id}`)?.localId;
    let observations = 0;
    for (const r of stored) {
      const copy = await localRead(r.resourceType, map.get(`${r.resourceType}/${r.id}`)?.localId as string);
      const expected = remoteReferencesOf(r as Resource, remoteBase).map((ref) => `${ref.type}/${map.get(`${ref.type}/${ref.id}`)?.localId}`);
      const actual = referenceStrings(copy).filter((ref) => !ref.startsWith('#') && !ref.startsWith('urn:'));
      expect(new Set(actual)).toEqual(new Set(expected));
      if (r.resourceType === 'Observation') {
        observations++;
        expect(copy.subject.reference).toBe(`Patient/${localPatientId}`);
      }
    }
    expect(observations).toBeGreaterThan(0);
  });

  it_('records the pulled resources in the outbox, so that the AI plugins run on them', async () => {
    const map = await mappings(connectionId);
    const patient = stored.find((r) => r.resourceType === 'Patient') as Json;
    const { rows } = await pg.query('SELECT 1 FROM outbox_events WHERE resource_type = $1 AND resource_id = $2', ['Patient', map.get(`Patient/${patient.id}`)?.localId]);
    expect(rows.length).toBe(1);
  });

  it_('stores nothing on a second sync, incremental or from scratch', async () => {
    const before = await mappings(connectionId);
    const again = await sync(connectionId);
    expect(again).toMatchObject({ status: 'succeeded', resourcesIn: 0, failed: 0 });
    // Dropping the cursors makes the next sync fetch everything again: all of it is unchanged.
    await pg.query('DELETE FROM exchange_sync_cursors WHERE connection_id = $1', [connectionId]);
    const full = await sync(connectionId);
    expect(full).toMatchObject({ status: 'succeeded', resourcesIn: 0, unchanged: before.size, failed: 0 });
    expect((await mappings(connectionId)).size).toBe(before.size);
    for (const r of stored) expect((await localRead(r.resourceType, before.get(`${r.resourceType}/${r.id}`)?.localId as string)).meta.versionId).toBe('1');
  });

  it_('stores a new version of exactly the resource that changed on the remote', async () => {
    const target = stored.find((r) => r.resourceType === 'Observation' && r.valueQuantity) as Json;
    const changed = { ...target, valueQuantity: { ...target.valueQuantity, value: 4242.5 } };
    expect((await FhirRequest.of(remote).put(`Observation/${target.id}`, changed)).status).toBe(200);
    const run = await sync(connectionId);
    expect(run).toMatchObject({ status: 'succeeded', resourcesIn: 1, failed: 0 });
    const map = await mappings(connectionId);
    const copy = await localRead('Observation', map.get(`Observation/${target.id}`)?.localId as string);
    expect(copy.meta.versionId).toBe('2');
    expect(copy.valueQuantity.value).toBe(4242.5);
    expect(map.get(`Observation/${target.id}`)?.version).toBe('2');
    for (const r of stored.filter((s) => s !== target)) expect((await localRead(r.resourceType, map.get(`${r.resourceType}/${r.id}`)?.localId as string)).meta.versionId).toBe('1');
  });
});

function smallestBundle(): number {
  const files = syntheaBundleFiles();
  const sizes = files.map((f) => (JSON.parse(readFileSync(f, 'utf8')) as Json).entry.length as number);
  return sizes.indexOf(Math.min(...sizes));
}

// ---- misbehaving remotes ----------------------------------------------------------------------------

/** A tiny FHIR server whose answers each test sets, counting requests by path and query. */
class FakeRemote {
  requests: string[] = [];
  handler: (path: string, res: ServerResponse, req: IncomingMessage) => void = (_p, res) => send(res, 404, outcome('not found'));

  private constructor(
    private readonly server: Server,
    readonly base: string,
  ) {}

  static async start(): Promise<FakeRemote> {
    let self: FakeRemote | undefined;
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '';
      self?.requests.push(url);
      self?.handler(url, res, req);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new FakeRemote(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`);
    return self;
  }

  /** Requests left unanswered (a remote that times out); ended when the server closes. */
  hanging: ServerResponse[] = [];

  hang(res: ServerResponse): void {
    this.hanging.push(res);
  }

  count(prefix: string): number {
    return this.requests.filter((r) => r.startsWith(prefix)).length;
  }

  close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

const outcome = (diagnostics: string) => ({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', diagnostics }] });

function searchset(resources: Json[], next?: string): Json {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(next ? { link: [{ relation: 'next', url: next }] } : {}),
    entry: resources.map((r) => ({ fullUrl: `${fake.base}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'match' } })),
  };
}

const patient = (id: string, minute: number): Json => ({
  resourceType: 'Patient',
  id,
  meta: { versionId: '1', lastUpdated: `2026-11-01T10:${String(minute).padStart(2, '0')}:00.000Z` },
  name: [{ family: `Fake${id}` }],
});

/** The fake as a remote whose CapabilityStatement offers Patient search and history: `listed` answers searches, `history` the type history. */
function patientRemoteWithHistory(listed: () => Json[], history: () => { status: number; body: Json }): typeof fake.handler {
  const capabilities = {
    resourceType: 'CapabilityStatement',
    status: 'active',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [{ mode: 'server', resource: [{ type: 'Patient', interaction: [{ code: 'search-type' }, { code: 'history-type' }] }] }],
  };
  return (path, res) => {
    if (path === '/fhir/metadata') return send(res, 200, capabilities);
    if (path.startsWith('/fhir/Patient/_history')) {
      const { status, body } = history();
      return send(res, status, body);
    }
    if (path.startsWith('/fhir/Patient?')) return send(res, 200, searchset(listed()));
    send(res, 404, outcome('not found'));
  };
}

describe('pull from a remote that misbehaves', () => {
  it('retries a remote answering 500, then reports it; pages stored before it stay whole, and the next run resumes after them', async () => {
    let broken = true;
    fake.requests = [];
    fake.handler = (path, res) => {
      if (path.startsWith('/fhir/Patient?page=2')) {
        if (broken) return send(res, 500, outcome('the EHR is down'));
        return send(res, 200, searchset([patient('p3', 3), patient('p4', 4)]));
      }
      if (path.startsWith('/fhir/Patient?')) return send(res, 200, searchset([patient('p1', 1), patient('p2', 2)], `${fake.base}/Patient?page=2`));
      send(res, 404, outcome('not found'));
    };
    const id = await connect('fake-500', fake.base, { type: 'none' }, ['Patient']);
    const failed = await sync(id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/500/);
    expect(fake.count('/fhir/Patient?page=2')).toBe(3); // EXCHANGE_SYNC_ATTEMPTS
    expect(fake.count('/fhir/Patient?_')).toBe(1); // later attempts resumed from the stored next link
    expect(failed.resourcesIn).toBe(2);
    expect([...(await mappings(id)).keys()].sort()).toEqual(['Patient/p1', 'Patient/p2']);
    const [failure] = await failuresOf(id);
    expect(failure).toMatchObject({ direction: 'pull', runId: failed.id });
    expect(JSON.stringify(failure.outcome)).toContain('the EHR is down');
    expect((await local.app.get(ConnectionRepository).get(id))?.lastSyncStatus).toBe('failed');
    const { rows } = await pg.query('SELECT next_url FROM exchange_sync_cursors WHERE connection_id = $1', [id]);
    expect(rows[0].next_url).toBe(`${fake.base}/Patient?page=2`);

    broken = false;
    const resumed = await sync(id);
    expect(resumed).toMatchObject({ status: 'succeeded', resourcesIn: 2, unchanged: 0 });
    expect(fake.count('/fhir/Patient?_')).toBe(1);
    expect([...(await mappings(id)).keys()].sort()).toEqual(['Patient/p1', 'Patient/p2', 'Patient/p3', 'Patient/p4']);
    const after = await pg.query('SELECT next_url, high_water FROM exchange_sync_cursors WHERE connection_id = $1', [id]);
    expect(after.rows[0].next_url).toBeNull();
    expect(new Date(after.rows[0].high_water).toISOString()).toBe('2026-11-01T10:04:00.000Z');
  });

  it('retries a remote that does not answer within the timeout, then reports it', async () => {
    fake.requests = [];
    fake.handler = (path, res) => (path.startsWith('/fhir/Patient?') ? fake.hang(res) : send(res, 404, outcome('not found')));
    const id = await connect('fake-timeout', fake.base, { type: 'none' }, ['Patient']);
    const run = await sync(id);
    expect(run).toMatchObject({ status: 'failed', resourcesIn: 0 });
    expect(run.error).toMatch(/timeout/);
    expect(fake.count('/fhir/Patient?')).toBe(3);
    expect((await mappings(id)).size).toBe(0);
    const [failure] = await failuresOf(id);
    expect(failure).toMatchObject({ direction: 'pull', runId: run.id });
    expect(failure.outcome.issue?.[0]?.code).toBe('transient');
  });

  it('starts a type again from its high-water mark when the stored next link is refused', async () => {
    fake.requests = [];
    fake.handler = (path, res) => (path.startsWith('/fhir/Patient?') ? send(res, 200, searchset([patient('s1', 1)])) : send(res, 404, outcome('not found')));
    const id = await connect('fake-foreign-link', fake.base, { type: 'none' }, ['Patient']);
    await pg.query('INSERT INTO exchange_sync_cursors (connection_id, resource_type, next_url) VALUES ($1, $2, $3)', [id, 'Patient', 'http://elsewhere.example.org/fhir/Patient?page=2']);
    const run = await sync(id);
    expect(run).toMatchObject({ status: 'succeeded', resourcesIn: 1 });
    // Then the CapabilityStatement, to learn whether the remote offers history (for deletions): it does not.
    expect(fake.requests).toEqual([expect.stringMatching(/^\/fhir\/Patient\?/), '/fhir/metadata']);
  });

  it('continues from a cursor left by an earlier attempt, without duplicates', async () => {
    fake.requests = [];
    fake.handler = (path, res) => {
      if (path.startsWith('/fhir/Patient?page=2')) return send(res, 200, searchset([patient('r3', 3)]));
      if (path.startsWith('/fhir/Patient?')) return send(res, 200, searchset([patient('r1', 1), patient('r2', 2)], `${fake.base}/Patient?page=2`));
      send(res, 404, outcome('not found'));
    };
    const id = await connect('fake-resume', fake.base, { type: 'none' }, ['Patient']);
    const full = await sync(id);
    expect(full).toMatchObject({ status: 'succeeded', resourcesIn: 3 });
    // As if an attempt had stored page 1 and died before page 2.
    await pg.query('UPDATE exchange_sync_cursors SET next_url = $2 WHERE connection_id = $1', [id, `${fake.base}/Patient?page=2`]);
    fake.requests = [];
    const resumed = await sync(id);
    expect(resumed).toMatchObject({ status: 'succeeded', resourcesIn: 0, unchanged: 1 });
    expect(fake.requests).toEqual(['/fhir/Patient?page=2', '/fhir/metadata']);
    const map = await mappings(id);
    expect(map.size).toBe(3);
    for (const m of map.values()) expect((await localRead('Patient', m.localId)).meta.versionId).toBe('1');
  });

  it('pulls a remote change that committed after the last run with an earlier lastUpdated (the next look starts before the high-water mark)', async () => {
    // A remote that honours _lastUpdated=ge: what it holds grows between the runs.
    const held = [patient('late2', 5)];
    fake.handler = (path, res) => {
      if (!path.startsWith('/fhir/Patient?')) return send(res, 404, outcome('not found'));
      const ge = new URL(path, fake.base).searchParams.get('_lastUpdated')?.replace(/^ge/, '');
      send(res, 200, searchset(held.filter((p) => !ge || p.meta.lastUpdated >= ge)));
    };
    const id = await connect('fake-late-commit', fake.base, { type: 'none' }, ['Patient']);
    expect(await sync(id)).toMatchObject({ status: 'succeeded', resourcesIn: 1 });
    // A remote transaction that wrote at 10:04:30 commits only now, after the run saw 10:05.
    held.push({ ...patient('late1', 4), meta: { versionId: '1', lastUpdated: '2026-11-01T10:04:30.000Z' } });
    expect(await sync(id)).toMatchObject({ status: 'succeeded', resourcesIn: 1, unchanged: 1 });
    expect([...(await mappings(id)).keys()].sort()).toEqual(['Patient/late1', 'Patient/late2']);
  });

  it('deletes the local copy of what the remote deleted, from its type history; the look is recorded and repeated from there', async () => {
    let history: Json[] = [];
    let listed = [patient('d1', 1), patient('d2', 2)];
    fake.requests = [];
    fake.handler = patientRemoteWithHistory(() => listed, () => ({ status: 200, body: { resourceType: 'Bundle', type: 'history', entry: history } }));
    const id = await connect('fake-deletions', fake.base, { type: 'none' }, ['Patient']);
    const first = await sync(id);
    expect(first).toMatchObject({ status: 'succeeded', resourcesIn: 2, deleted: 0 });
    // The first look starts at the earliest copy's remote lastUpdated.
    expect(fake.requests.find((r) => r.startsWith('/fhir/Patient/_history'))).toContain(`_since=${encodeURIComponent('2026-11-01T10:01:00.000Z')}`);

    // d1 is deleted on the remote (newest entry first); d2 was deleted and created again: it stays.
    listed = [patient('d2', 2)];
    history = [
      { request: { method: 'PUT', url: 'Patient/d2' }, response: { status: '200', lastModified: '2026-11-01T12:00:00.000Z', etag: 'W/"3"' }, resource: patient('d2', 2) },
      { request: { method: 'DELETE', url: 'Patient/d1' }, response: { status: '204', lastModified: '2026-11-01T11:30:00.000Z', etag: 'W/"2"' } },
      { request: { method: 'DELETE', url: 'Patient/d2' }, response: { status: '204', lastModified: '2026-11-01T11:00:00.000Z', etag: 'W/"2"' } },
    ];
    fake.requests = [];
    const second = await sync(id);
    expect(second).toMatchObject({ status: 'succeeded', deleted: 1, failed: 0 });
    const map = await mappings(id);
    expect((await FhirRequest.of(local).get(`Patient/${map.get('Patient/d1')?.localId as string}`)).status).toBe(410);
    expect((await localRead('Patient', map.get('Patient/d2')?.localId as string)).name[0].family).toBe('Faked2');
    // Recorded: a minute before the latest change seen.
    const { rows } = await pg.query('SELECT deleted_high_water FROM exchange_sync_cursors WHERE connection_id = $1', [id]);
    expect(new Date(rows[0].deleted_high_water).toISOString()).toBe('2026-11-01T11:59:00.000Z');
    fake.requests = [];
    expect(await sync(id)).toMatchObject({ status: 'succeeded', deleted: 0 });
    expect(fake.requests.find((r) => r.startsWith('/fhir/Patient/_history'))).toContain(`_since=${encodeURIComponent('2026-11-01T11:59:00.000Z')}`);
  });

  it('a deletion refused here (a Patient whose compartment holds our own records) is a failure, tried again at the next run until it can be done', async () => {
    let history: Json[] = [];
    let listed = [patient('k1', 1)];
    fake.handler = patientRemoteWithHistory(() => listed, () => ({ status: 200, body: { resourceType: 'Bundle', type: 'history', entry: history } }));
    const id = await connect('fake-refused-deletion', fake.base, { type: 'none' }, ['Patient']);
    expect(await sync(id)).toMatchObject({ status: 'succeeded', resourcesIn: 1 });
    const localPatient = (await mappings(id)).get('Patient/k1')?.localId as string;
    // A record of this server's own about the pulled patient.
    const own = await FhirRequest.of(local).post('Observation', { resourceType: 'Observation', status: 'final', code: { text: 'our note' }, subject: { reference: `Patient/${localPatient}` } });
    expect(own.status).toBe(201);

    const lookedAt = async () => (await pg.query('SELECT deleted_high_water FROM exchange_sync_cursors WHERE connection_id = $1', [id])).rows[0].deleted_high_water as Date;
    const before = await lookedAt(); // the first run's look (an empty history): from the copy's lastUpdated
    expect(new Date(before).toISOString()).toBe('2026-11-01T10:01:00.000Z');

    listed = [];
    history = [{ request: { method: 'DELETE', url: 'Patient/k1' }, response: { status: '204', lastModified: '2026-11-01T11:00:00.000Z', etag: 'W/"2"' } }];
    for (let attempt = 0; attempt < 2; attempt++) {
      const refused = await sync(id);
      expect(refused).toMatchObject({ status: 'succeeded', deleted: 0, failed: 1 });
      expect((await localRead('Patient', localPatient)).id).toBe(localPatient);
      // Not recorded: the next run reads from the same point and tries again.
      expect(await lookedAt()).toEqual(before);
    }
    const failures = (await failuresOf(id)).filter((f) => f.resource === 'Patient/k1');
    expect(failures).toHaveLength(2);

    expect((await FhirRequest.of(local).delete(`Observation/${own.body.id as string}`)).status).toBe(200);
    expect(await sync(id)).toMatchObject({ status: 'succeeded', deleted: 1, failed: 0 });
    expect((await FhirRequest.of(local).get(`Patient/${localPatient}`)).status).toBe(410);
  });

  it('a history read the remote refuses is a failure row and the run goes on; the look is not recorded', async () => {
    fake.requests = [];
    fake.handler = patientRemoteWithHistory(() => [patient('h1', 1)], () => ({ status: 403, body: outcome('history is not for you') }));
    const id = await connect('fake-history-refused', fake.base, { type: 'none' }, ['Patient']);
    const run = await sync(id);
    expect(run).toMatchObject({ status: 'succeeded', resourcesIn: 1, failed: 1, deleted: 0 });
    const [failure] = await failuresOf(id);
    expect(failure).toMatchObject({ direction: 'pull', runId: run.id, resource: 'Patient/_history' });
    expect(JSON.stringify(failure.outcome)).toContain('history is not for you');
    const { rows } = await pg.query('SELECT deleted_high_water FROM exchange_sync_cursors WHERE connection_id = $1', [id]);
    expect(rows[0].deleted_high_water).toBeNull();
  });

  it('reports an invalid remote resource with its OperationOutcome and stores the valid ones', async () => {
    fake.requests = [];
    const obs = (id: string, extra: Json = {}): Json => ({ resourceType: 'Observation', id, meta: { lastUpdated: '2026-11-01T11:00:00.000Z' }, status: 'final', code: { text: 'heart rate' }, subject: { reference: 'Patient/v1' }, ...extra });
    fake.handler = (path, res) => {
      if (path.startsWith('/fhir/Observation?'))
        return send(res, 200, searchset([obs('good1'), obs('bad', { status: 'not-a-status' }), obs('good2', { subject: { reference: `${fake.base}/Patient/missing` } })]));
      if (path === '/fhir/Patient/v1') return send(res, 200, patient('v1', 5));
      send(res, 404, outcome('not found'));
    };
    const id = await connect('fake-invalid', fake.base, { type: 'none' }, ['Observation']);
    const run = await sync(id);
    // good1, good2 and the Patient good1 refers to (read and stored first).
    expect(run).toMatchObject({ status: 'succeeded', resourcesIn: 3, failed: 1 });
    const map = await mappings(id);
    expect([...map.keys()].sort()).toEqual(['Observation/good1', 'Observation/good2', 'Patient/v1']);
    const failures = await failuresOf(id);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ direction: 'pull', runId: run.id, resource: 'Observation/bad' });
    expect(failures[0].outcome.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(failures[0].outcome)).toMatch(/status/);
    const good1 = await localRead('Observation', map.get('Observation/good1')?.localId as string);
    expect(good1.subject).toEqual({ reference: `Patient/${map.get('Patient/v1')?.localId}` });
    // A reference the remote cannot resolve (404) stays logical: no dangling reference.
    const good2 = await localRead('Observation', map.get('Observation/good2')?.localId as string);
    expect(good2.subject).toEqual({ identifier: { system: fake.base, value: 'Patient/missing' }, display: `Patient/missing at ${fake.base}` });
    expect(fake.count('/fhir/Patient/missing')).toBe(1);
  });

  it('maps a resource this server pushed to the remote back to our own, instead of pulling a copy', async () => {
    const ours = await FhirRequest.of(local).post('Patient', { resourceType: 'Patient', name: [{ family: 'Ours' }] });
    expect(ours.status).toBe(201);
    const system = local.config.publicBaseUrl || 'urn:fhir-ai-server';
    const echoed = { ...patient('e1', 7), identifier: [{ system, value: `Patient/${ours.body.id}` }] };
    fake.handler = (path, res) => (path.startsWith('/fhir/Patient?') ? send(res, 200, searchset([echoed, patient('e2', 8)])) : send(res, 404, outcome('not found')));
    const id = await connect('fake-echo', fake.base, { type: 'none' }, ['Patient']);
    const run = await sync(id);
    expect(run).toMatchObject({ status: 'succeeded', resourcesIn: 1, unchanged: 1 });
    const map = await mappings(id);
    expect(map.get('Patient/e1')?.localId).toBe(ours.body.id);
    expect((await localRead('Patient', ours.body.id)).meta.versionId).toBe('1');
  });

  it('queues again an open run whose job was lost (Redis lost its data), and finishes it', async () => {
    fake.requests = [];
    fake.handler = (path, res) => (path.startsWith('/fhir/Patient?') ? send(res, 200, searchset([patient('l1', 1), patient('l2', 2)])) : send(res, 404, outcome('not found')));
    const id = await connect('fake-lost-job', fake.base, { type: 'none' }, ['Patient']);
    // Handed to the queue ten minutes ago, but the queue holds no such job.
    const { rows } = await pg.query(`INSERT INTO exchange_sync_runs (connection_id, trigger, enqueued_at) VALUES ($1, 'manual', now() - interval '10 minutes') RETURNING id`, [id]);
    const runId = Number(rows[0].id);
    const dispatcher = worker.ctx.get(SyncDispatcher);
    expect(await dispatcher.requeueLost()).toEqual([runId]);
    await dispatcher.dispatch();
    const runs = local.app.get(SyncRunRepository);
    const done = await waitFor(`run ${runId}`, async () => {
      const r = await runs.get(runId);
      return r && (r.status === 'succeeded' || r.status === 'failed') ? r : undefined;
    }, 30000, 100);
    expect(done).toMatchObject({ status: 'succeeded', resourcesIn: 2 });
    // A run whose job the queue holds is left alone.
    const again = await runs.request(id, 'manual');
    await dispatcher.dispatch();
    expect(await dispatcher.requeueLost(0)).not.toContain(again.run.id);
    await waitFor(`run ${again.run.id}`, async () => ['succeeded', 'failed'].includes((await runs.get(again.run.id))?.status ?? ''), 30000, 100);
  });

  it('fails a run at once on a permanent refusal (401), with the remote OperationOutcome', async () => {
    fake.requests = [];
    fake.handler = (_path, res) => send(res, 401, outcome('token rejected'));
    const id = await connect('fake-401', fake.base, { type: 'bearer', token: 'nope' }, ['Patient']);
    const run = await sync(id);
    expect(run.status).toBe('failed');
    expect(fake.requests).toHaveLength(1);
    const [failure] = await failuresOf(id);
    expect(failure.outcome.issue?.[0]?.diagnostics).toBe('token rejected');
  });
});

describe("pulling what the remote's own AI touched", () => {
  it('stores a Condition, triage RiskAssessment and recommendation Task that name the remote model Device; no row claims one of our models', async () => {
    const at = '2026-11-02T09:00:00.000Z';
    const meta = { versionId: '1', lastUpdated: at };
    const model = { reference: 'Device/b-model' };
    const remoteResources: Record<string, Json> = {
      Device: { resourceType: 'Device', id: 'b-model', meta, deviceName: [{ name: 'B diagnosis model 2.0', type: 'model-name' }] },
      Patient: patient('ai1', 1),
      Condition: {
        resourceType: 'Condition',
        id: 'c1',
        meta,
        extension: [
          { url: 'https://fhir-ai-server.dev/StructureDefinition/ai-confidence', valueDecimal: 0.87 },
          { url: 'https://fhir-ai-server.dev/StructureDefinition/ai-model', valueReference: model },
        ],
        code: { text: 'Suspected angina' },
        subject: { reference: 'Patient/ai1' },
        recordedDate: '2026-11-02',
      },
      RiskAssessment: {
        resourceType: 'RiskAssessment',
        id: 'ra1',
        meta,
        status: 'final',
        code: { coding: [{ system: 'urn:fhir-ai-server:triage-priority', code: 'triage' }] },
        subject: { reference: 'Patient/ai1' },
        performer: model,
        prediction: [{ outcome: { coding: [{ system: 'urn:fhir-ai-server:triage-priority', code: '2' }] }, probabilityDecimal: 0.4 }],
      },
      Task: {
        resourceType: 'Task',
        id: 't1',
        meta,
        status: 'requested',
        intent: 'proposal',
        code: { coding: [{ system: 'urn:fhir-ai-server:ai-task', code: 'recommendation' }] },
        for: { reference: 'Patient/ai1' },
        focus: { reference: 'Condition/c1' },
        description: 'Refer to cardiology',
        requester: model,
      },
    };
    fake.handler = (path, res) => {
      const type = /^\/fhir\/([A-Za-z]+)\?/.exec(path)?.[1];
      if (type && remoteResources[type]) return send(res, 200, searchset([remoteResources[type]]));
      send(res, 404, outcome('not found'));
    };
    const id = await connect('fake-remote-ai', fake.base, { type: 'none' }, ['Device', 'Patient', 'Condition', 'RiskAssessment', 'Task']);
    const run = await sync(id);
    expect(await failuresOf(id)).toEqual([]);
    expect(run).toMatchObject({ status: 'succeeded', resourcesIn: 5, failed: 0 });
    const map = await mappings(id);
    const local = (key: string) => map.get(key)?.localId as string;
    // The resources keep naming the model, as the local copy of the remote Device.
    const condition = await localRead('Condition', local('Condition/c1'));
    expect(condition.extension).toContainEqual({ url: 'https://fhir-ai-server.dev/StructureDefinition/ai-model', valueReference: { reference: `Device/${local('Device/b-model')}` } });
    expect((await localRead('RiskAssessment', local('RiskAssessment/ra1'))).performer).toEqual({ reference: `Device/${local('Device/b-model')}` });
    expect((await localRead('Task', local('Task/t1'))).requester).toEqual({ reference: `Device/${local('Device/b-model')}` });
    // The rows exist, without a model of ours.
    const row = async (table: string, key: string) => (await pg.query(`SELECT ai_model_id FROM ${table} WHERE id = $1`, [local(key)])).rows;
    expect(await row('diagnoses', 'Condition/c1')).toEqual([{ ai_model_id: null }]);
    expect(await row('triage', 'RiskAssessment/ra1')).toEqual([{ ai_model_id: null }]);
    expect(await row('recommendations', 'Task/t1')).toEqual([{ ai_model_id: null }]);
  });
});

describe('secrets a remote echoes', () => {
  const STATIC = 'MyStaticBearerTok-123';
  const ACCESS = 'AccessTok-xyz-987654';
  const CLIENT_SECRET = 'Client+Secret/42=';
  const admin = (path: string) => request(local.app.getHttpServer()).get(path).set('Authorization', `Bearer ${local.token}`);
  /** Every form the tester saw leaking, and those a careless remote might use. */
  const forms = (secret: string) => [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')];

  async function shown(id: string, runId: number): Promise<string> {
    const view = await admin(`/api/connections/${id}`);
    expect(view.status).toBe(200);
    const run = await admin(`/api/connections/${id}/syncs/${runId}`);
    expect(run.status).toBe(200);
    const { rows } = await pg.query('SELECT error FROM exchange_sync_runs WHERE connection_id = $1', [id]);
    const { rows: failures } = await pg.query('SELECT outcome FROM exchange_failures WHERE connection_id = $1', [id]);
    return JSON.stringify([view.body, run.body, rows, failures]);
  }

  it('a static bearer token echoed by the remote is cut out of the run error, the failures and the views', async () => {
    fake.handler = (_path, res, req) => {
      const auth = req.headers.authorization ?? '';
      const token = auth.replace(/^Bearer /, '');
      send(res, 403, outcome(`refused ${auth}; token=${encodeURIComponent(token)}; b64 ${Buffer.from(token).toString('base64')}`));
    };
    const id = await connect('fake-echo-bearer', fake.base, { type: 'bearer', token: STATIC }, ['Patient']);
    const run = await sync(id);
    expect(run.status).toBe('failed');
    const text = await shown(id, run.id);
    expect(text).toContain('refused Bearer [redacted]');
    for (const f of forms(STATIC)) expect(text).not.toContain(f);
  });

  it('with client credentials, the access token echoed by a search, and the Basic pair echoed by the token endpoint, are cut out', async () => {
    let tokenAnswer: 'ok' | 'echo' = 'ok';
    fake.handler = (path, res, req) => {
      const auth = req.headers.authorization ?? '';
      if (path === '/fhir/token') {
        if (tokenAnswer === 'echo') return send(res, 401, { error: 'invalid_client', error_description: `you sent ${auth}` });
        return send(res, 200, { access_token: ACCESS, token_type: 'bearer', expires_in: 3600 });
      }
      if (path === '/fhir/metadata') return send(res, 500, outcome(`metadata broken for ${auth}`));
      send(res, 403, outcome(`no access for ${auth} (${encodeURIComponent(ACCESS)})`));
    };
    const cc: ConnectionAuth = { type: 'client_credentials', tokenUrl: `${fake.base}/token`, clientId: 'our-client', clientSecret: CLIENT_SECRET };
    const id = await connect('fake-echo-cc', fake.base, cc, ['Patient']);
    const run = await sync(id);
    expect(run.status).toBe('failed');
    let text = await shown(id, run.id);
    expect(text).toContain('no access for Bearer [redacted]');
    for (const f of [...forms(ACCESS), ...forms(CLIENT_SECRET)]) expect(text).not.toContain(f);

    // The check: the token endpoint echoes the HTTP Basic header (base64 of clientId:secret).
    tokenAnswer = 'echo';
    const check = await request(local.app.getHttpServer()).post(`/api/connections/${id}/check`).set('Authorization', `Bearer ${local.token}`);
    expect(check.status).toBe(200);
    expect(check.body.ok).toBe(false);
    expect(JSON.stringify(check.body)).toContain('you sent Basic [redacted]');
    const basic = Buffer.from(`our-client:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64');
    text = JSON.stringify([check.body, await shown(id, run.id)]);
    for (const f of [basic, Buffer.from(`our-client:${CLIENT_SECRET}`).toString('base64'), ...forms(CLIENT_SECRET), ...forms(ACCESS)]) expect(text).not.toContain(f);
  });
});

describe('paging that never ends', () => {
  /** A remote whose Patient pages go on for ever (page=n -> page=n+1), each after `delayMs`. */
  const endless = (delayMs = 0): typeof fake.handler => (path, res) => {
    if (!path.startsWith('/fhir/Patient?')) return send(res, 404, outcome('not found'));
    const n = Number(/page=(\d+)/.exec(path)?.[1] ?? 1);
    setTimeout(() => send(res, 200, searchset([patient(`n${n}`, n % 60)], `${fake.base}/Patient?page=${n + 1}`)), delayMs);
  };

  it('fails the run with an OperationOutcome when a next link repeats, keeping the pages stored', async () => {
    fake.requests = [];
    fake.handler = (path, res) => {
      if (path.startsWith('/fhir/Patient?page=2')) return send(res, 200, searchset([patient('rep2', 2)], `${fake.base}/Patient?page=2`));
      if (path.startsWith('/fhir/Patient?')) return send(res, 200, searchset([patient('rep1', 1)], `${fake.base}/Patient?page=2`));
      send(res, 404, outcome('not found'));
    };
    const id = await connect('fake-repeated-next', fake.base, { type: 'none' }, ['Patient']);
    const run = await sync(id, 20000);
    expect(run).toMatchObject({ status: 'failed', resourcesIn: 2 });
    expect(run.error).toMatch(/round in a circle/);
    expect(fake.count('/fhir/Patient?page=2')).toBe(1);
    const [failure] = await failuresOf(id);
    expect(failure).toMatchObject({ direction: 'pull', runId: run.id });
    expect(failure.outcome.issue?.[0]).toMatchObject({ code: 'processing', diagnostics: expect.stringMatching(/next link .*page=2 was already followed/) });
  });

  it('stops a type after EXCHANGE_SYNC_MAX_PAGES pages and goes on with the other types; the next run continues from the stored link', async () => {
    fake.requests = [];
    const patients = endless();
    fake.handler = (path, res, req) => {
      if (path.startsWith('/fhir/Organization?')) return send(res, 200, searchset([{ resourceType: 'Organization', id: 'org-after-cap', meta: { versionId: '1', lastUpdated: '2026-11-01T10:00:00.000Z' }, name: 'After the cap' }]));
      patients(path, res, req);
    };
    const id = await connect('fake-endless', fake.base, { type: 'none' }, ['Patient', 'Organization']);
    process.env.EXCHANGE_SYNC_MAX_PAGES = '4';
    try {
      const run = await sync(id, 20000);
      expect(run).toMatchObject({ status: 'succeeded', resourcesIn: 5, failed: 1 });
      expect(fake.requests.filter((r) => r.startsWith('/fhir/Patient?'))).toHaveLength(4);
      expect(fake.count('/fhir/Organization?')).toBe(1);
      expect((await mappings(id)).has('Organization/org-after-cap')).toBe(true);
      const [failure] = await failuresOf(id);
      expect(failure).toMatchObject({ direction: 'pull', runId: run.id, resource: 'Patient' });
      expect(failure.outcome.issue?.[0]).toMatchObject({ code: 'too-costly', diagnostics: expect.stringMatching(/EXCHANGE_SYNC_MAX_PAGES/) });
      const { rows } = await pg.query("SELECT next_url FROM exchange_sync_cursors WHERE connection_id = $1 AND resource_type = 'Patient'", [id]);
      expect(rows[0].next_url).toBe(`${fake.base}/Patient?page=5`);
      fake.requests = [];
      const again = await sync(id, 20000);
      expect(again).toMatchObject({ status: 'succeeded', resourcesIn: 4, failed: 1 });
      expect(fake.requests.find((r) => r.startsWith('/fhir/Patient?'))).toBe('/fhir/Patient?page=5');
    } finally {
      delete process.env.EXCHANGE_SYNC_MAX_PAGES;
    }
  });

  it('stops between pages once the connection is turned off (DELETE)', async () => {
    fake.requests = [];
    fake.handler = endless(50);
    const id = await connect('fake-turned-off', fake.base, { type: 'none' }, ['Patient']);
    const runs = local.app.get(SyncRunRepository);
    const { run } = await runs.request(id, 'manual');
    await waitFor('a few pages read', async () => fake.count('/fhir/Patient?page=') >= 3, 20000, 50);
    const off = await request(local.app.getHttpServer()).delete(`/api/connections/${id}`).set('Authorization', `Bearer ${local.token}`);
    expect(off.status).toBe(200);
    const done = await waitFor(`run ${run.id} stopped`, async () => {
      const r = await runs.get(run.id);
      return r && r.status !== 'running' && r.status !== 'queued' ? r : undefined;
    }, 20000, 100);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/turned off/);
    const count = fake.requests.length;
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.requests.length).toBe(count);
  });
});

describe('search answers that are not search pages', () => {
  const cases: Array<[string, Json]> = [
    ['an OperationOutcome with 200', outcome('search is broken today')],
    ['a bare resource with 200', patient('bare', 1)],
    ['a Bundle of another type', { resourceType: 'Bundle', type: 'collection', entry: [] }],
    ['entry not an array', { resourceType: 'Bundle', type: 'searchset', entry: { resource: patient('x', 1) } }],
    ['a null entry', { resourceType: 'Bundle', type: 'searchset', entry: [null] }],
  ];
  it.each(cases)('fails the run at once on %s, with an OperationOutcome, the cursor not moved', async (label, body) => {
    fake.requests = [];
    fake.handler = (path, res) => (path.startsWith('/fhir/Patient?') ? send(res, 200, body) : send(res, 404, outcome('not found')));
    const id = await connect(`fake-not-a-page ${label}`, fake.base, { type: 'none' }, ['Patient']);
    const run = await sync(id, 20000);
    expect(run).toMatchObject({ status: 'failed', resourcesIn: 0 });
    expect(run.error).toMatch(/is not a search page/);
    expect(fake.count('/fhir/Patient?')).toBe(1); // permanent: not retried
    const [failure] = await failuresOf(id);
    expect(failure.outcome).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'structure' }] });
    expect(failure.outcome.issue?.[0].diagnostics).not.toMatch(/TypeError|Cannot read/);
    const { rows } = await pg.query('SELECT next_url, high_water FROM exchange_sync_cursors WHERE connection_id = $1', [id]);
    expect(rows).toEqual([]);
  });
});

describe('matches of another type', () => {
  it('reports a match whose type is not the one searched and stores only the right ones', async () => {
    const observation = { resourceType: 'Observation', id: 'stray-obs', meta: { versionId: '1', lastUpdated: '2026-11-01T10:59:00.000Z' }, status: 'final', code: { text: 'stray' } };
    fake.handler = (path, res) => (path.startsWith('/fhir/Patient?') ? send(res, 200, searchset([patient('right-type', 3), observation])) : send(res, 404, outcome('not found')));
    const id = await connect('fake-wrong-type', fake.base, { type: 'none' }, ['Patient']);
    const run = await sync(id, 20000);
    expect(run).toMatchObject({ status: 'succeeded', resourcesIn: 1, failed: 1 });
    const mapped = await mappings(id);
    expect(mapped.has('Patient/right-type')).toBe(true);
    expect(mapped.has('Observation/stray-obs')).toBe(false);
    const stored = await request(local.app.getHttpServer()).get('/fhir/Observation?code:text=stray').set('Authorization', `Bearer ${local.token}`);
    expect(stored.status).toBe(200);
    expect(stored.body.total ?? stored.body.entry?.length ?? 0).toBe(0);
    const [failure] = await failuresOf(id);
    expect(failure).toMatchObject({ resource: 'Observation/stray-obs' });
    expect(failure.outcome.issue?.[0].diagnostics).toMatch(/search of Patient with a Observation/);
    // The cursor's high-water mark comes from the Patient only (10:03), not the stray match (10:59).
    const cursor = await pg.query("SELECT high_water FROM exchange_sync_cursors WHERE connection_id = $1 AND resource_type = 'Patient'", [id]);
    expect(new Date(cursor.rows[0].high_water).toISOString()).toBe('2026-11-01T10:03:00.000Z');
  });
});

describe('scheduled syncs', () => {
  it('asks for a run of a connection whose interval has passed, and not again within the interval', async () => {
    fake.handler = (_path, res) => send(res, 200, searchset([]));
    const id = await connect('fake-scheduled', fake.base, { type: 'none' }, ['Patient']);
    await pg.query('UPDATE exchange_connections SET sync_interval_seconds = 60 WHERE id = $1', [id]);
    const scheduler = worker.ctx.get(SyncScheduler);
    expect(await scheduler.tick()).toEqual([id]);
    const run = await waitFor('scheduled run', async () => {
      const [r] = await local.app.get(SyncRunRepository).recent(id, 5);
      return r && r.status === 'succeeded' ? r : undefined;
    });
    expect(run.trigger).toBe('schedule');
    expect(await scheduler.tick()).toEqual([]);
    expect(await local.app.get(SyncRunRepository).recent(id, 5)).toHaveLength(1);
  });
});
