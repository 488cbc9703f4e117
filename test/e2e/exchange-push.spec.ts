/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from 'pg';
import request from 'supertest';
import { Queue } from 'bullmq';
import { DatabaseService } from '../../src/database/database.service';
import { ConnectionRepository } from '../../src/exchange/connection.repository';
import { PushTrigger } from '../../src/exchange/push/push-trigger.service';
import { QUEUES } from '../../src/queue/queues';
import { bullPrefix } from '../../src/queue/redis.provider';
import { FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { patient, practitioner } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { cadCondition, clientToken, recommendationTasks } from '../helpers/ai-recommendations';
import { highRiskCadObservations } from '../helpers/ai-fixtures';

/**
 * Pushing to the home EHR end to end, with two instances of this server (one the external EHR):
 * the AI's RiskAssessment (with its Provenance and model Device) and then the approved
 * recommendation arrive on the remote exactly once, pointing at the remote Patient; sending again
 * creates nothing twice; a remote answering 500 is retried, dead-lettered with its
 * OperationOutcome, listed, and replayed once the connection is fixed.
 */
const SYS = 'urn:fhir-ai-server';
const ATTEMPTS = 3;
let remote: TestApp;
let local: TestApp;
let worker: TestWorker;
let remoteApi: FhirApi;
let localApi: FhirApi;
let pg: Client;
let broken: Server;
let brokenUrl: string;
const brokenRequests: string[] = [];
/** What the failing EHR answers: 500 (transient) or 422 (permanent). */
let brokenStatus = 500;
let clinician: string;
const ids = {} as Record<'good' | 'bad' | 'dr' | 'p1Local' | 'p1Remote' | 'p2Local' | 'p2Remote', string>;

async function addConnection(name: string, baseUrl: string): Promise<string> {
  const endpoint = await localApi.created({
    resourceType: 'Endpoint',
    status: 'active',
    name,
    connectionType: { system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type', code: 'hl7-fhir-rest' },
    payloadType: [{ text: 'FHIR R4' }],
    address: baseUrl,
  });
  const repo = local.app.get(ConnectionRepository);
  await local.app.get(DatabaseService).transaction({ actor: 'test' }, (tx) => repo.insert(tx, { id: endpoint.id, name, baseUrl, auth: { type: 'bearer', token: remote.token } }));
  return endpoint.id as string;
}

/** The same patient on both sides, and the mapping a pull would have left (the connection is its home EHR). */
async function sharedPatient(connectionId: string, family: string): Promise<{ local: string; remote: string }> {
  const body = patient({ family, gender: 'male', birthDate: '1960-01-01', generalPractitioner: [{ reference: `Practitioner/${ids.dr}` }] });
  const remoteId = (await remoteApi.created({ ...body, generalPractitioner: undefined })).id as string;
  const localId = (await localApi.created(body)).id as string;
  await pg.query("INSERT INTO exchange_remote_resources (connection_id, resource_type, remote_id, local_id) VALUES ($1, 'Patient', $2, $3)", [connectionId, remoteId, localId]);
  return { local: localId, remote: remoteId };
}

async function remoteByIdentity(type: string, value: string): Promise<Json[]> {
  const param = type === 'Provenance' ? '_tag' : 'identifier';
  const res = expectStatus(await remoteApi.search(type, { [param]: `${SYS}|${value}` }), 200);
  return ((res.body.entry ?? []) as Json[]).map((e) => e.resource as Json);
}

async function pushesOf(connectionId: string): Promise<Json[]> {
  const { rows } = await pg.query('SELECT * FROM exchange_push WHERE connection_id = $1 ORDER BY id', [connectionId]);
  return rows;
}

async function waitForPush(connectionId: string, resource: string, status: string, timeoutMs = 60000): Promise<Json> {
  return waitFor(
    `push of ${resource} to ${connectionId} ${status}`,
    async () => (await pushesOf(connectionId)).find((r) => `${r.resource_type}/${r.resource_id}` === resource && r.status === status),
    timeoutMs,
    200,
  );
}

const admin = () => ({
  deadLetters: (connectionId: string, token = local.token) => request(local.app.getHttpServer()).get(`/api/connections/${connectionId}/dead-letters`).set('Authorization', `Bearer ${token}`),
  replay: (connectionId: string, pushId: string | number) => request(local.app.getHttpServer()).post(`/api/connections/${connectionId}/dead-letters/${pushId}/replay`).set('Authorization', `Bearer ${local.token}`),
  pushes: (connectionId: string, query: Record<string, string> = {}) => request(local.app.getHttpServer()).get(`/api/connections/${connectionId}/pushes`).query(query).set('Authorization', `Bearer ${local.token}`),
});

beforeAll(async () => {
  broken = createServer((req, res) => {
    brokenRequests.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(brokenStatus, { 'content-type': 'application/fhir+json' });
    const diagnostics = brokenStatus === 500 ? 'the EHR is having a bad day' : 'the EHR refuses this RiskAssessment';
    res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: brokenStatus === 500 ? 'exception' : 'processing', diagnostics }] }));
  });
  await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
  brokenUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}/fhir`;

  remote = await startTestApp();
  local = await startTestApp({ CONNECTION_ALLOW_PRIVATE_ENDPOINTS: 'true', EXCHANGE_PUSH_ATTEMPTS: String(ATTEMPTS) });
  worker = await startTestWorker(local.config);
  remoteApi = new FhirApi(remote);
  localApi = new FhirApi(local);
  pg = await rawClient(local.db.url);

  ids.dr = (await localApi.created(practitioner({ family: 'Approver' }))).id;
  clinician = (await clientToken(local, { role: 'clinician', practitioner: `Practitioner/${ids.dr}` })).token;
  ids.good = await addConnection('home EHR', `${remote.baseUrl}/fhir`);
  ids.bad = await addConnection('failing EHR', brokenUrl);
  ({ local: ids.p1Local, remote: ids.p1Remote } = await sharedPatient(ids.good, 'Pushed'));
  ({ local: ids.p2Local, remote: ids.p2Remote } = await sharedPatient(ids.bad, 'Deadlettered'));
}, 120000);

afterAll(async () => {
  await pg?.end();
  await worker?.close();
  await local?.close();
  await remote?.close();
  await new Promise((resolve) => broken?.close(resolve));
});

describe('exchange push', () => {
  let task: Json;
  let raId: string;
  let remoteRa: Json;

  it("sends the AI's RiskAssessment, its Provenance and the model's Device to the patient's home EHR, once, about the remote Patient", async () => {
    await highRiskCadObservations(localApi, ids.p1Local);
    await cadCondition(localApi, ids.p1Local);
    [task] = await recommendationTasks(localApi, ids.p1Local, 1, 90000);
    raId = (task.reasonReference.reference as string).split('/')[1];
    const row = await waitForPush(ids.good, `RiskAssessment/${raId}`, 'sent');
    expect(row).toMatchObject({ version_id: 1, patient_id: ids.p1Local, attempts: 1, replays: 0 });
    expect(row.remote_locations.length).toBe(3);

    const ras = await remoteByIdentity('RiskAssessment', `RiskAssessment/${raId}`);
    expect(ras).toHaveLength(1);
    remoteRa = ras[0];
    expect(remoteRa.subject).toEqual({ reference: `Patient/${ids.p1Remote}` });
    expect(remoteRa.id).not.toBe(raId);
    expect(remoteRa.meta.source).toBe(`${SYS}/RiskAssessment/${raId}`);
    const localRa = expectStatus(await localApi.read('RiskAssessment', raId), 200).body as Json;
    expect(remoteRa.prediction[0].probabilityDecimal).toBe(localRa.prediction[0].probabilityDecimal);
    // What the remote cannot resolve travels as our identifier, never as a dangling literal reference.
    expect(remoteRa.condition).toEqual({ identifier: { system: SYS, value: localRa.condition.reference } });

    const devices = await remoteByIdentity('Device', 'Device/cad-cleveland-1.0.0');
    expect(devices).toHaveLength(1);
    // The model is named by our identifier (a receiver may tie performer to its own model registry); the Provenance points at the Device sent.
    expect(remoteRa.performer).toEqual({ identifier: { system: SYS, value: 'Device/cad-cleveland-1.0.0' } });

    const localProv = expectStatus(await localApi.search('Provenance', { target: `RiskAssessment/${raId}` }), 200).body.entry[0].resource as Json;
    const provs = await remoteByIdentity('Provenance', `Provenance/${localProv.id}`);
    expect(provs).toHaveLength(1);
    expect(provs[0].target).toEqual([{ reference: `RiskAssessment/${remoteRa.id}` }]);
    expect(provs[0].agent[0].who.reference).toBe(`Device/${devices[0].id}`);

    // Nothing else of the patient went out: the pending recommendation is not pushed, nor the Condition.
    expect((await pushesOf(ids.good)).map((r) => r.resource_type)).toEqual(['RiskAssessment']);
    const conn = await local.app.get(ConnectionRepository).get(ids.good);
    expect(conn?.resourcesOut).toBe(3);
  }, 120000);

  it('sends the approved recommendation, pointing at the RiskAssessment already there rather than a second copy', async () => {
    expectStatus(await request(local.app.getHttpServer()).post(`/api/recommendations/${task.id}/approve`).set('Authorization', `Bearer ${clinician}`), 200);
    const row = await waitForPush(ids.good, `Task/${task.id}`, 'sent');
    expect(row.version_id).toBe(2);

    const tasks = await remoteByIdentity('Task', `Task/${task.id}`);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ status: 'accepted', for: { reference: `Patient/${ids.p1Remote}` }, reasonReference: { reference: `RiskAssessment/${remoteRa.id}` } });
    expect(tasks[0].owner).toEqual({ identifier: { system: SYS, value: `Practitioner/${ids.dr}` } });
    expect(await remoteByIdentity('RiskAssessment', `RiskAssessment/${raId}`)).toHaveLength(1);
    expect(await remoteByIdentity('Device', 'Device/cad-cleveland-1.0.0')).toHaveLength(1);
    const all = expectStatus(await remoteApi.search('RiskAssessment', { subject: `Patient/${ids.p1Remote}` }), 200).body;
    expect(all.total ?? all.entry.length).toBe(1);
    // Only the Task was new on the remote.
    expect((await local.app.get(ConnectionRepository).get(ids.good))?.resourcesOut).toBe(4);
  }, 60000);

  it('creates nothing twice: a redelivered event records nothing, a sent push is not replayed, and sending one again changes nothing remotely', async () => {
    const [raRow, taskRow] = await pushesOf(ids.good);
    const again = await worker.ctx.get(PushTrigger).onEvent({ id: 'x', action: 'create', resourceType: 'RiskAssessment', resourceId: raId, versionId: 1, patientId: ids.p1Local });
    expect(again).toBeUndefined();
    expect(await pushesOf(ids.good)).toHaveLength(2);

    const refused = await admin().replay(ids.good, taskRow.id);
    expect(refused.status).toBe(409);
    expect(outcomeText(refused.body)).toMatch(/is sent, not dead/);
    expect((await admin().replay(ids.good, '999999')).status).toBe(404);
    expect((await admin().replay(ids.good, 'nope')).status).toBe(404);
    expect((await admin().replay(ids.bad, taskRow.id)).status).toBe(404);

    // The job queued again while the row is sent: it re-reads the row and sends nothing.
    const queue = new Queue(QUEUES.exchangePush, { connection: { host: '127.0.0.1', port: 6379 }, prefix: bullPrefix(local.config.queuePrefix) });
    try {
      const job = await queue.add('push', { pushId: Number(taskRow.id) }, { jobId: `push-${taskRow.id}-again` });
      const finished = await waitFor('the repeated job', async () => ((await job.isCompleted()) ? (await queue.getJob(job.id as string))?.returnvalue : undefined), 30000, 100);
      expect(finished).toMatchObject({ status: 'skipped' });
    } finally {
      await queue.close();
    }

    // Forced out again (the row pending, as after a crash before it was marked sent): conditional creates find everything.
    const sentBefore = taskRow.sent_at as Date;
    await pg.query("UPDATE exchange_push SET status = 'pending', enqueued_at = NULL, replays = replays + 1 WHERE id = $1", [taskRow.id]);
    await pg.query("SELECT pg_notify('exchange_push', $1)", [String(taskRow.id)]);
    const resent = await waitFor('the push sent again', async () => (await pushesOf(ids.good)).find((r) => r.id === taskRow.id && r.status === 'sent' && r.sent_at > sentBefore), 30000, 200);
    expect(resent.remote_locations).toEqual(taskRow.remote_locations);
    expect(await remoteByIdentity('Task', `Task/${task.id}`)).toHaveLength(1);
    expect(await remoteByIdentity('RiskAssessment', `RiskAssessment/${raId}`)).toHaveLength(1);
    expect(await remoteByIdentity('Device', 'Device/cad-cleveland-1.0.0')).toHaveLength(1);
    expect((await local.app.get(ConnectionRepository).get(ids.good))?.resourcesOut).toBe(4);

    // The connection switched off before the job ran: the job re-checks it, sends nothing and dead-letters the push.
    await pg.query("UPDATE exchange_connections SET status = 'off' WHERE id = $1", [ids.good]);
    await pg.query("UPDATE exchange_push SET status = 'pending', attempts = 0, enqueued_at = NULL, replays = replays + 1 WHERE id = $1", [raRow.id]);
    await pg.query("SELECT pg_notify('exchange_push', $1)", [String(raRow.id)]);
    const off = await waitFor('the push to a switched-off connection dead', async () => (await pushesOf(ids.good)).find((r) => r.id === raRow.id && r.status === 'dead'), 30000, 200);
    expect(off.last_error.issue[0].diagnostics).toMatch(/is off/);
    expect(off.attempts).toBe(1);
    await pg.query("UPDATE exchange_connections SET status = 'active' WHERE id = $1", [ids.good]);
    expectStatus(await admin().replay(ids.good, raRow.id), 202);
    await waitFor('the replayed push sent', async () => (await pushesOf(ids.good)).find((r) => r.id === raRow.id && r.status === 'sent'), 30000, 200);
    expect(await remoteByIdentity('RiskAssessment', `RiskAssessment/${raId}`)).toHaveLength(1);
    expect(await remoteByIdentity('Provenance', `Provenance/${(await localApi.search('Provenance', { target: `RiskAssessment/${raId}` })).body.entry[0].resource.id}`)).toHaveLength(1);
    expect((await local.app.get(ConnectionRepository).get(ids.good))?.resourcesOut).toBe(4);
  }, 90000);

  it('retries a remote answering 500, then dead-letters the push with its OperationOutcome; a 4xx is not retried; a replay once the connection is fixed sends it once', async () => {
    await highRiskCadObservations(localApi, ids.p2Local);
    await cadCondition(localApi, ids.p2Local);
    const [task2] = await recommendationTasks(localApi, ids.p2Local, 1, 90000);
    const ra2 = (task2.reasonReference.reference as string).split('/')[1];
    const dead = await waitForPush(ids.bad, `RiskAssessment/${ra2}`, 'dead');
    expect(dead.attempts).toBe(ATTEMPTS);
    expect(brokenRequests.filter((r) => r.startsWith('POST'))).toHaveLength(ATTEMPTS);
    expect(dead.last_error).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ diagnostics: 'the EHR is having a bad day' }] });
    const { rows: failures } = await pg.query('SELECT direction, push_id, resource, outcome FROM exchange_failures WHERE connection_id = $1', [ids.bad]);
    expect(failures).toEqual([{ direction: 'push', push_id: dead.id, resource: `RiskAssessment/${ra2}/_history/1`, outcome: dead.last_error }]);
    expect((await local.app.get(ConnectionRepository).get(ids.bad))?.failures).toBe(1);

    const listed = expectStatus(await admin().deadLetters(ids.bad), 200).body;
    expect(listed).toMatchObject({ connection: ids.bad, count: 1 });
    expect(listed.items[0]).toMatchObject({ id: String(dead.id), resource: `RiskAssessment/${ra2}/_history/1`, status: 'dead', attempts: ATTEMPTS, lastError: dead.last_error });
    expect(listed.items[0].created).toEqual(expect.any(String));
    expect(expectStatus(await admin().deadLetters(ids.good), 200).body.items).toEqual([]);
    expect((await admin().deadLetters(ids.bad, clinician)).status).toBe(403);
    expect((await admin().deadLetters('no-such-connection')).status).toBe(404);
    expect(expectStatus(await admin().pushes(ids.bad, { status: 'dead' }), 200).body.count).toBe(1);
    expect((await admin().pushes(ids.bad, { status: 'lost' })).status).toBe(400);

    // Replayed while the EHR refuses it (422, permanent): dead again after one attempt, no retries.
    brokenStatus = 422;
    const firstReplay = expectStatus(await admin().replay(ids.bad, dead.id), 202).body;
    expect(firstReplay).toMatchObject({ id: String(dead.id), status: 'pending', attempts: 0, replays: 1, jobId: `push-${dead.id}-r1` });
    const refused = await waitFor('the replayed push refused', async () => (await pushesOf(ids.bad)).find((r) => r.id === dead.id && r.status === 'dead' && r.replays === 1), 30000, 200);
    expect(refused.attempts).toBe(1);
    expect(refused.last_error).toMatchObject({ issue: [{ diagnostics: 'the EHR refuses this RiskAssessment' }] });
    expect(brokenRequests.filter((r) => r.startsWith('POST'))).toHaveLength(ATTEMPTS + 1);
    expect((await local.app.get(ConnectionRepository).get(ids.bad))?.failures).toBe(2);

    // Fixed: the connection now points at the real EHR (where the patient also lives).
    await pg.query('UPDATE exchange_connections SET base_url = $1 WHERE id = $2', [`${remote.baseUrl}/fhir`, ids.bad]);
    const replayed = expectStatus(await admin().replay(ids.bad, dead.id), 202).body;
    expect(replayed).toMatchObject({ id: String(dead.id), status: 'pending', attempts: 0, replays: 2, jobId: `push-${dead.id}-r2` });
    const sent = await waitForPush(ids.bad, `RiskAssessment/${ra2}`, 'sent');
    expect(sent).toMatchObject({ attempts: 1, replays: 2 });
    const ras = await remoteByIdentity('RiskAssessment', `RiskAssessment/${ra2}`);
    expect(ras).toHaveLength(1);
    expect(ras[0].subject).toEqual({ reference: `Patient/${ids.p2Remote}` });
    expect(await remoteByIdentity('Device', 'Device/cad-cleveland-1.0.0')).toHaveLength(1);
    expect(expectStatus(await admin().deadLetters(ids.bad), 200).body.items).toEqual([]);
    expect((await admin().replay(ids.bad, dead.id)).status).toBe(409);
  }, 150000);

  it('sends a later version as a conditional update: a retraction of the RiskAssessment reaches the one remote copy', async () => {
    const current = expectStatus(await localApi.read('RiskAssessment', raId), 200).body as Json;
    await localApi.updated({ ...current, status: 'entered-in-error' });
    await waitFor('the retraction sent', async () => (await pushesOf(ids.good)).find((r) => r.resource_id === raId && r.version_id === 2 && r.status === 'sent'), 60000, 200);
    const ras = await remoteByIdentity('RiskAssessment', `RiskAssessment/${raId}`);
    expect(ras).toHaveLength(1);
    expect(ras[0]).toMatchObject({ id: remoteRa.id, status: 'entered-in-error', subject: { reference: `Patient/${ids.p1Remote}` } });
    expect(ras[0].meta.versionId).not.toBe(remoteRa.meta.versionId);
    // The recommendation on the remote still points at the same copy.
    expect((await remoteByIdentity('Task', `Task/${task.id}`))[0].reasonReference).toEqual({ reference: `RiskAssessment/${remoteRa.id}` });
  }, 90000);
});

describe('exchange push to a remote that answers oddly', () => {
  let odd: Server;
  let oddUrl: string;
  /** What the odd EHR answers a transaction: [status, body]; the Authorization header is at hand to echo. */
  let answer: (auth: string, sent: Json) => [number, Json] = () => [200, {}];

  beforeAll(async () => {
    odd = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const [status, out] = answer(req.headers.authorization ?? '', body ? JSON.parse(body) : {});
        res.writeHead(status, { 'content-type': 'application/fhir+json' });
        res.end(JSON.stringify(out));
      });
    });
    await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve));
    oddUrl = `http://127.0.0.1:${(odd.address() as AddressInfo).port}/fhir`;
  });
  afterAll(() => new Promise((resolve) => odd?.close(resolve)));

  /** A connection to the odd EHR (bearer `token`), a patient whose home EHR it is, and a pending push of one RiskAssessment. */
  async function pendingPush(name: string, token: string): Promise<{ connection: string; pushId: string }> {
    const endpoint = await localApi.created({ resourceType: 'Endpoint', status: 'active', name, connectionType: { system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type', code: 'hl7-fhir-rest' }, payloadType: [{ text: 'FHIR R4' }], address: oddUrl });
    const connection = endpoint.id as string;
    await local.app.get(DatabaseService).transaction({ actor: 'test' }, (tx) => local.app.get(ConnectionRepository).insert(tx, { id: connection, name, baseUrl: oddUrl, auth: { type: 'bearer', token } }));
    const p = (await localApi.created(patient({ family: name.replace(/\W/g, ''), gender: 'female', birthDate: '1970-01-01' }))).id as string;
    await pg.query("INSERT INTO exchange_remote_resources (connection_id, resource_type, remote_id, local_id) VALUES ($1, 'Patient', 'remote-p', $2)", [connection, p]);
    const ra = await localApi.created({ resourceType: 'RiskAssessment', status: 'final', subject: { reference: `Patient/${p}` }, prediction: [{ probabilityDecimal: 0.3 }] });
    const { rows } = await pg.query("INSERT INTO exchange_push (connection_id, resource_type, resource_id, version_id, patient_id) VALUES ($1, 'RiskAssessment', $2, 1, $3) RETURNING id", [connection, ra.id, p]);
    await pg.query("SELECT pg_notify('exchange_push', $1)", [String(rows[0].id)]);
    return { connection, pushId: String(rows[0].id) };
  }

  const row = async (id: string) => (await pg.query('SELECT * FROM exchange_push WHERE id = $1', [id])).rows[0] as Json;

  it('does not take a transaction-response without one entry per request entry as sent: retried, dead-lettered, and sent once the remote answers properly (the last error cleared)', async () => {
    let posts = 0;
    answer = () => {
      posts++;
      return [200, { resourceType: 'Bundle', type: 'transaction-response', entry: [] }];
    };
    const { connection, pushId } = await pendingPush('odd EHR', 'odd-token-123456');
    const dead = await waitFor('the push dead', async () => ((await row(pushId)).status === 'dead' ? row(pushId) : undefined), 60000, 200);
    expect(dead.attempts).toBe(ATTEMPTS);
    expect(posts).toBe(ATTEMPTS);
    expect(dead.remote_locations).toBeNull();
    expect(dead.last_error.issue[0]).toMatchObject({ code: 'structure', diagnostics: expect.stringMatching(/invalid transaction-response: 0 response entries for 1 request entries/) });
    const { rows: failures } = await pg.query('SELECT outcome FROM exchange_failures WHERE connection_id = $1', [connection]);
    expect(failures).toHaveLength(1);

    // A success status is required of every entry.
    answer = (_auth, sent) => [200, { resourceType: 'Bundle', type: 'transaction-response', entry: (sent.entry as Json[]).map(() => ({ response: { status: '400 Bad Request' } })) }];
    expectStatus(await admin().replay(connection, pushId), 202);
    const refused = await waitFor('the replayed push dead', async () => ((await row(pushId)).status === 'dead' && (await row(pushId)).replays === 1 ? row(pushId) : undefined), 60000, 200);
    expect(refused.last_error.issue[0].diagnostics).toMatch(/response entry 0 has status "400 Bad Request", not a success/);

    answer = (_auth, sent) => [200, { resourceType: 'Bundle', type: 'transaction-response', entry: (sent.entry as Json[]).map((_e, i) => ({ response: { status: '201 Created', location: `RiskAssessment/r${i}/_history/1` } })) }];
    expectStatus(await admin().replay(connection, pushId), 202);
    const sent = await waitFor('the push sent', async () => ((await row(pushId)).status === 'sent' ? row(pushId) : undefined), 60000, 200);
    expect(sent.remote_locations).toEqual(['RiskAssessment/r0/_history/1']);
    expect(sent.last_error).toBeNull();
  }, 150000);

  it("cuts the connection's token out of the dead letter's last error when the remote echoes it", async () => {
    const token = 'MyStaticBearerTok-123';
    answer = (auth) => [422, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', diagnostics: `refused ${auth}` }] }];
    const { connection, pushId } = await pendingPush('echoing EHR', token);
    const dead = await waitFor('the push dead', async () => ((await row(pushId)).status === 'dead' ? row(pushId) : undefined), 60000, 200);
    expect(dead.last_error.issue[0].diagnostics).toBe('refused Bearer [redacted]');
    const listed = expectStatus(await admin().deadLetters(connection), 200).body;
    const view = expectStatus(await request(local.app.getHttpServer()).get(`/api/connections/${connection}`).set('Authorization', `Bearer ${local.token}`), 200).body;
    expect(JSON.stringify([dead, listed, view])).not.toContain(token);
  }, 90000);
});
