import { randomUUID } from 'node:crypto';
import { FhirRequest } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Conditional interactions under concurrency, over real HTTP against one server: clients that race
 * with the same ifNoneExist (REST If-None-Exist, transaction entries, or both at once) or the same
 * conditional update never make two resources, and of several updates made with the same If-Match
 * exactly one wins.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SYS = 'urn:oid:1.2.3.4.5.concurrency-spec';
const CLIENTS = 10;
const ROUNDS = 3;

let t: TestApp;
let api: FhirRequest;

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
});

afterAll(async () => {
  await t?.close();
});

interface Answer {
  status: number;
  body: Json;
  headers: Headers;
}

/** A request over the network (not in-process), so that the requests really run side by side. */
async function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${t.baseUrl}/fhir/${path}`, {
    method,
    headers: { Authorization: `Bearer ${t.token}`, 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {}, headers: res.headers };
}

function patient(value: string, family = 'Race'): Json {
  return { resourceType: 'Patient', identifier: [{ system: SYS, value }], name: [{ family }] };
}

/** Ids of the current Patients with the identifier. */
async function patientsWith(value: string): Promise<string[]> {
  const res = await api.post('', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient?identifier=${SYS}|${value}` } }] });
  expect(res.status).toBe(200);
  return ((res.body.entry[0].resource.entry as Json[] | undefined) ?? []).map((e) => e.resource.id as string);
}

/** Fires `n` requests at once (each one built when the starting gun goes). */
async function race<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  let go!: () => void;
  const gun = new Promise<void>((resolve) => (go = resolve));
  const all = Array.from({ length: n }, (_, i) => gun.then(() => fn(i)));
  go();
  return Promise.all(all);
}

/** Exactly one 201, the others 200, and all name the same resource; returns its id. */
function oneCreated(statuses: number[], ids: string[]): string {
  expect(statuses.filter((s) => s === 201)).toHaveLength(1);
  expect(statuses.every((s) => s === 200 || s === 201)).toBe(true);
  expect(new Set(ids).size).toBe(1);
  return ids[0];
}

describe('conditional create under concurrency', () => {
  it(`${CLIENTS} concurrent POSTs with the same If-None-Exist create exactly one resource (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const value = `rest-${randomUUID()}`;
      const before = await api.historyTotal('Patient');
      const answers = await race(CLIENTS, (i) => send('POST', 'Patient', patient(value, `Client${i}`), { 'If-None-Exist': `identifier=${SYS}|${value}` }));
      const id = oneCreated(
        answers.map((a) => a.status),
        answers.map((a) => a.body.id),
      );
      expect(await patientsWith(value)).toEqual([id]);
      expect(await api.historyTotal('Patient')).toBe(before + 1);
    }
  });

  it(`${CLIENTS} concurrent transactions with the same ifNoneExist entry create one Patient, and every transaction's references point at it`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const value = `tx-${randomUUID()}`;
      const answers = await race(CLIENTS, (i) => {
        const pUrn = `urn:uuid:${randomUUID()}`;
        return send('POST', '', {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: pUrn, resource: patient(value, `Tx${i}`), request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|${value}` } },
            {
              resource: { resourceType: 'Observation', status: 'final', code: { text: `client ${i}` }, subject: { reference: pUrn } },
              request: { method: 'POST', url: 'Observation' },
            },
          ],
        });
      });
      for (const a of answers) expect({ status: a.status, type: a.body.type }).toEqual({ status: 200, type: 'transaction-response' });
      const statuses = answers.map((a) => Number.parseInt(a.body.entry[0].response.status, 10));
      const ids = answers.map((a) => String(a.body.entry[0].response.location).split('/')[1]);
      const id = oneCreated(statuses, ids);
      expect(await patientsWith(value)).toEqual([id]);
      // Each transaction's Observation was created and references the one Patient.
      for (const a of answers) {
        expect(a.body.entry[1].response.status).toMatch(/^201/);
        expect(a.body.entry[1].resource.subject.reference).toBe(`Patient/${id}`);
      }
    }
  });

  it('REST If-None-Exist and transaction ifNoneExist racing each other still make one resource', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const value = `mixed-${randomUUID()}`;
      const answers = await race(CLIENTS, async (i) => {
        if (i % 2 === 0) {
          const a = await send('POST', 'Patient', patient(value), { 'If-None-Exist': `identifier=${SYS}|${value}` });
          return { status: a.status, id: a.body.id as string };
        }
        const a = await send('POST', '', {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [{ resource: patient(value), request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|${value}` } }],
        });
        expect(a.status).toBe(200);
        return { status: Number.parseInt(a.body.entry[0].response.status, 10), id: String(a.body.entry[0].response.location).split('/')[1] };
      });
      const id = oneCreated(
        answers.map((a) => a.status),
        answers.map((a) => a.id),
      );
      expect(await patientsWith(value)).toEqual([id]);
    }
  });

  it(`${CLIENTS} concurrent batches with the same ifNoneExist entry create one resource`, async () => {
    const value = `batch-${randomUUID()}`;
    const answers = await race(CLIENTS, () =>
      send('POST', '', {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ resource: patient(value), request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|${value}` } }],
      }),
    );
    for (const a of answers) expect(a.status).toBe(200);
    const id = oneCreated(
      answers.map((a) => Number.parseInt(a.body.entry[0].response.status, 10)),
      answers.map((a) => String(a.body.entry[0].response.location).split('/')[1]),
    );
    expect(await patientsWith(value)).toEqual([id]);
  });
});

describe('conditional update under concurrency', () => {
  it(`${CLIENTS} concurrent PUT Patient?identifier=... on no match create exactly one resource; the others update it`, async () => {
    const value = `cu-${randomUUID()}`;
    const answers = await race(CLIENTS, (i) => send('PUT', `Patient?identifier=${SYS}|${value}`, patient(value, `Writer${i}`)));
    const id = oneCreated(
      answers.map((a) => a.status),
      answers.map((a) => a.body.id),
    );
    expect(await patientsWith(value)).toEqual([id]);
    // Every writer made its own version, one after the other: versions 1..CLIENTS, none lost.
    const versions = answers.map((a) => Number(a.body.meta.versionId)).sort((x, y) => x - y);
    expect(versions).toEqual(Array.from({ length: CLIENTS }, (_, i) => i + 1));
    expect(await api.historyTotal(`Patient/${id}`)).toBe(CLIENTS);
  });
});

describe('If-Match under concurrency', () => {
  it(`${CLIENTS} concurrent PUTs with the same If-Match: exactly one wins, the others are 412`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const created = await send('POST', 'Patient', patient(`im-${randomUUID()}`));
      expect(created.status).toBe(201);
      const p = created.body;
      const answers = await race(CLIENTS, (i) => send('PUT', `Patient/${p.id}`, { ...p, name: [{ family: `Winner${i}` }] }, { 'If-Match': 'W/"1"' }));
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses).toEqual([200, ...Array.from({ length: CLIENTS - 1 }, () => 412)]);
      for (const a of answers.filter((x) => x.status === 412)) expect(a.body.resourceType).toBe('OperationOutcome');
      const winner = answers.find((a) => a.status === 200) as Answer;
      expect(winner.headers.get('etag')).toBe('W/"2"');
      const current = await api.get(`Patient/${p.id}`);
      expect(current.body.meta.versionId).toBe('2');
      expect(current.body.name).toEqual(winner.body.name);
      expect(await api.historyTotal(`Patient/${p.id}`)).toBe(2);
    }
  });

  it(`${CLIENTS} concurrent transactions PUTting with the same ifMatch: exactly one commits`, async () => {
    const created = await send('POST', 'Patient', patient(`imtx-${randomUUID()}`));
    const p = created.body;
    const answers = await race(CLIENTS, (i) =>
      send('POST', '', {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: { ...p, name: [{ family: `TxWinner${i}` }] }, request: { method: 'PUT', url: `Patient/${p.id}`, ifMatch: 'W/"1"' } }],
      }),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, ...Array.from({ length: CLIENTS - 1 }, () => 412)]);
    expect(await api.historyTotal(`Patient/${p.id}`)).toBe(2);
  });

  it(`${CLIENTS} concurrent JSON Patches with the same If-Match: exactly one applies`, async () => {
    const created = await send('POST', 'Patient', patient(`impatch-${randomUUID()}`));
    const p = created.body;
    const answers = await race(CLIENTS, (i) =>
      send('PATCH', `Patient/${p.id}`, [{ op: 'replace', path: '/name/0/family', value: `Patched${i}` }], { 'If-Match': 'W/"1"', 'Content-Type': 'application/json-patch+json' }),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, ...Array.from({ length: CLIENTS - 1 }, () => 412)]);
    expect(await api.historyTotal(`Patient/${p.id}`)).toBe(2);
  });
});
