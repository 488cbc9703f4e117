import request from 'supertest';
import type { Client } from 'pg';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../src/auth/token.service';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import type { Json } from '../helpers/fhir-api';
import { deviceObservation, encounter, labObservation, patient, practitioner } from '../helpers/resources';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, fetchToken, startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';

/**
 * Access control end to end: the administrator API for OAuth2 clients (roles, hashed secrets,
 * rotation, revocation), SMART scopes on every interaction (REST and bundle entries), the patient
 * compartment of a patient-context token (another patient's resources answer as if absent), and
 * the discovery documents (smart-configuration, JWKS).
 */

const JSON_PATCH = 'application/json-patch+json';

let t: TestApp;
let admin: FhirRequest;
let pg: Client;

/** What the shared fixture holds: a Practitioner per patient, two patients, each with an Observation and an Encounter. */
const ids = {} as {
  p1: string; // Practitioner referenced by A's Encounter
  p2: string; // Practitioner referenced by B's Encounter only
  a: string;
  b: string;
  aObs: string;
  aObs2: string; // A's Observation that is derivedFrom B's (a reference across compartments)
  aEnc: string;
  bObs: string;
  bEnc: string;
  c: string; // a third patient, for the write tests (A's and B's compartments stay as the fixture made them)
};

/** Clients made through the API in the first block, reused by the later ones. */
const clients = {} as Record<'admin' | 'ehr' | 'clinician' | 'scientist' | 'patientA', { client_id: string; client_secret: string; token: string }>;

const server = () => t.app.getHttpServer();

function bearer(r: request.Test, token: string | undefined): request.Test {
  return token ? r.set('Authorization', `Bearer ${token}`) : r;
}

const clientsApi = (token: string | undefined) => ({
  create: (body: unknown) => bearer(request(server()).post('/api/clients'), token).set('Content-Type', 'application/json').send(JSON.stringify(body)),
  list: () => bearer(request(server()).get('/api/clients'), token),
  rotate: (id: string) => bearer(request(server()).post(`/api/clients/${encodeURIComponent(id)}/rotate`), token),
  revoke: (id: string) => bearer(request(server()).delete(`/api/clients/${encodeURIComponent(id)}`), token),
});

function tokenRequest(clientId: string, secret: string, scope?: string): request.Test {
  return request(server())
    .post('/auth/token')
    .type('form')
    .send({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, ...(scope ? { scope } : {}) });
}

function patch(token: string, path: string, body: unknown): request.Test {
  return request(server()).patch(`/fhir/${path}`).set('Authorization', `Bearer ${token}`).set('Content-Type', JSON_PATCH).send(JSON.stringify(body));
}

async function created(resource: Json): Promise<Json> {
  const res = await admin.post(resource.resourceType, resource);
  if (res.status !== 201) throw new Error(`create ${resource.resourceType} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Creates a client through the API (as the bootstrap admin) and gets a token for it. */
async function newClient(body: Json): Promise<{ client_id: string; client_secret: string; token: string; scope: string; role: string }> {
  const res = await clientsApi(t.token).create(body);
  if (res.status !== 201) throw new Error(`POST /api/clients answered ${res.status}: ${JSON.stringify(res.body)}`);
  const token = await fetchToken(t.app, res.body.client_id, res.body.client_secret);
  return { ...res.body, token };
}

/** `Type/id` of every entry of a Bundle (from the resource, or the fullUrl for deletions). */
function refsOf(bundle: Json): string[] {
  return ((bundle.entry as Json[] | undefined) ?? []).map((e) => (e.resource ? `${e.resource.resourceType}/${e.resource.id}` : new URL(e.fullUrl).pathname.replace(/^\/fhir\//, '')));
}

/**
 * Every stored version of every resource but the AuditEvents (which the server records about each
 * request, refusals included), straight from the database.
 */
async function storedVersions(): Promise<number> {
  const { rows } = await pg.query<{ n: string }>(
    `SELECT (SELECT count(*) FROM fhir_resource_history WHERE resource_type <> 'AuditEvent')
          + (SELECT count(*) FROM fhir_patient_resource_history) AS n`,
  );
  return Number(rows[0].n);
}

/** Asserts a refusal and that nothing at all was stored meanwhile. */
async function refusedAndNothingStored(send: () => request.Test, status: number): Promise<Json> {
  const before = await storedVersions();
  const oo = expectOutcome(await send(), status);
  expect(await storedVersions()).toBe(before);
  return oo;
}

/** Status, content type and body, with an id replaced, to compare the answer for a hidden resource with the one for a missing id. */
function shape(res: request.Response, id: string): unknown {
  return { status: res.status, type: res.headers['content-type'], body: JSON.parse(JSON.stringify(res.body).split(id).join('<id>')) };
}

beforeAll(async () => {
  t = await startTestApp();
  admin = FhirRequest.of(t);
  pg = await rawClient(t.db.url);
  ids.p1 = (await created(practitioner({ family: 'Shared' }))).id;
  ids.p2 = (await created(practitioner({ family: 'OnlyB' }))).id;
  ids.a = (await created(patient({ family: 'Alpha' }))).id;
  ids.b = (await created(patient({ family: 'Bravo' }))).id;
  ids.c = (await created(patient({ family: 'Charlie' }))).id;
  ids.aObs = (await created(labObservation(ids.a))).id;
  ids.aEnc = (await created(encounter(ids.a, { participant: [{ individual: { reference: `Practitioner/${ids.p1}` } }] }))).id;
  ids.bObs = (await created(labObservation(ids.b))).id;
  ids.bEnc = (await created(encounter(ids.b, { participant: [{ individual: { reference: `Practitioner/${ids.p2}` } }] }))).id;
  ids.aObs2 = (await created(deviceObservation(ids.a, { derivedFrom: [{ reference: `Observation/${ids.bObs}` }] }))).id;
  // B's Observation gets a second version, so that there is history to hide.
  const bObs = (await admin.get(`Observation/${ids.bObs}`)).body;
  expect((await admin.put(`Observation/${ids.bObs}`, { ...bObs, status: 'amended' })).status).toBe(200);
});

afterAll(async () => {
  await pg?.end();
  await t?.close();
});

describe('administrator API: /api/clients', () => {
  it('creates one client per role with the role ceiling as scope, and each gets a token', async () => {
    const made = {
      admin: await newClient({ role: 'admin' }),
      ehr: await newClient({ role: 'ehr-system' }),
      clinician: await newClient({ role: 'clinician', practitioner: `Practitioner/${ids.p1}` }),
      scientist: await newClient({ role: 'data-scientist' }),
      patientA: await newClient({ role: 'patient', patient: `Patient/${ids.a}` }),
    };
    expect(made.admin).toMatchObject({ role: 'admin', scope: 'system/*.cruds admin' });
    expect(made.ehr).toMatchObject({ role: 'ehr-system', scope: 'system/*.cruds' });
    expect(made.clinician).toMatchObject({ role: 'clinician', scope: 'user/*.cruds' });
    expect(made.scientist).toMatchObject({ role: 'data-scientist', scope: 'system/*.rs models' });
    expect(made.patientA).toMatchObject({ role: 'patient', scope: 'patient/*.rs' });
    const all = Object.values(made);
    expect(new Set(all.map((c) => c.client_id)).size).toBe(all.length);
    expect(new Set(all.map((c) => c.client_secret)).size).toBe(all.length);
    for (const c of all) {
      expect(c.client_id).toMatch(new RegExp(`^${c.role}-`));
      expect(c.client_secret.length).toBeGreaterThanOrEqual(32);
    }
    Object.assign(clients, made);

    // The tokens carry the role and the binding.
    expect(decodeJwt(made.clinician.token)).toMatchObject({ sub: made.clinician.client_id, role: 'clinician', scope: 'user/*.cruds', fhirUser: `Practitioner/${ids.p1}` });
    expect(decodeJwt(made.patientA.token)).toMatchObject({ sub: made.patientA.client_id, role: 'patient', scope: 'patient/*.rs', patient: ids.a });
    expect(decodeJwt(made.ehr.token).patient).toBeUndefined();
    const patientTokenResponse = await tokenRequest(made.patientA.client_id, made.patientA.client_secret);
    expect(patientTokenResponse.status).toBe(200);
    expect(patientTokenResponse.body).toMatchObject({ scope: 'patient/*.rs', patient: ids.a });

    // The new admin client is an administrator; the others are not.
    expect((await clientsApi(made.admin.token).list()).status).toBe(200);
  });

  it('lists the clients with their role and binding but no secret or hash', async () => {
    const res = await clientsApi(t.token).list();
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body)).toBe(true);
    const byId = new Map((res.body as Json[]).map((c) => [c.client_id, c]));
    expect(byId.get(TEST_CLIENT_ID)).toMatchObject({ role: 'admin' });
    expect(byId.get(clients.ehr.client_id)).toMatchObject({ role: 'ehr-system', scope: 'system/*.cruds', revoked_at: null });
    expect(byId.get(clients.clinician.client_id)).toMatchObject({ role: 'clinician', practitioner: `Practitioner/${ids.p1}` });
    expect(byId.get(clients.patientA.client_id)).toMatchObject({ role: 'patient', patient: `Patient/${ids.a}` });
    expect(byId.get(clients.scientist.client_id)).toMatchObject({ role: 'data-scientist' });
    expect(byId.get(clients.admin.client_id)).toMatchObject({ role: 'admin' });
    const text = JSON.stringify(res.body);
    expect(text).not.toMatch(/secret|hash|scrypt/i);
    for (const c of Object.values(clients)) expect(text).not.toContain(c.client_secret);
    expect(text).not.toContain(TEST_CLIENT_SECRET);
  });

  it('the database holds scrypt hashes only: no plaintext secret in auth_clients or audit_log', async () => {
    const { rows } = await pg.query<{ client_id: string; secret_hash: string; row: string }>('SELECT client_id, secret_hash, row_to_json(c)::text AS row FROM auth_clients c');
    const byId = new Map(rows.map((r) => [r.client_id, r]));
    for (const c of [...Object.values(clients), { client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET }]) {
      const row = byId.get(c.client_id);
      expect(row).toBeDefined();
      expect(row!.secret_hash).toMatch(/^scrypt\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
      expect(row!.secret_hash).not.toContain(c.client_secret);
      for (const r of rows) expect(r.row).not.toContain(c.client_secret);
    }
    // Every hash has its own salt.
    expect(new Set(rows.map((r) => r.secret_hash.split('$')[1])).size).toBe(rows.length);
    const audit = await pg.query<{ text: string | null }>("SELECT string_agg(row_to_json(a)::text, ' ') AS text FROM audit_log a");
    for (const c of Object.values(clients)) expect(audit.rows[0].text ?? '').not.toContain(c.client_secret);
    // Nor in any stored resource (the AuditEvents of the logins included; they are written shortly after the response).
    await new Promise((r) => setTimeout(r, 600));
    const { rows: stored } = await pg.query<{ text: string | null }>(
      `SELECT string_agg(content::text, ' ') AS text FROM (SELECT content FROM fhir_resource_history UNION ALL SELECT content FROM fhir_patient_resource_history) c`,
    );
    for (const c of Object.values(clients)) expect(stored[0].text ?? '').not.toContain(c.client_secret);
    expect(stored[0].text ?? '').not.toContain(TEST_CLIENT_SECRET);
  });

  it('rotate: a new secret; the old one is refused at /auth/token, the new one works', async () => {
    const c = await newClient({ role: 'ehr-system' });
    const [{ secret_hash: before }] = (await pg.query<{ secret_hash: string }>('SELECT secret_hash FROM auth_clients WHERE client_id = $1', [c.client_id])).rows;
    const res = await clientsApi(t.token).rotate(c.client_id);
    expect(res.status).toBe(200);
    expect(res.body.client_id).toBe(c.client_id);
    expect(typeof res.body.client_secret).toBe('string');
    expect(res.body.client_secret).not.toBe(c.client_secret);

    const old = await tokenRequest(c.client_id, c.client_secret);
    expect(old.status).toBe(401);
    expect(old.body.error).toBe('invalid_client');
    expect(old.body.access_token).toBeUndefined();
    const fresh = await tokenRequest(c.client_id, res.body.client_secret);
    expect(fresh.status).toBe(200);
    expect((await admin.get(`Patient/${ids.a}`)).status).toBe(200);
    expect((await FhirRequest.of(t, fresh.body.access_token).get(`Patient/${ids.a}`)).status).toBe(200);

    const [{ secret_hash: after }] = (await pg.query<{ secret_hash: string }>('SELECT secret_hash FROM auth_clients WHERE client_id = $1', [c.client_id])).rows;
    expect(after).not.toBe(before);
    expect(after).toMatch(/^scrypt\$/);
    expect(after).not.toContain(res.body.client_secret);

    expectOutcome(await clientsApi(t.token).rotate('no-such-client'), 404);
  });

  it('rotate: tokens issued before the rotation answer 401 once the cache expires (~5 s), even if verified before; new ones work', async () => {
    const c = await newClient({ role: 'ehr-system' });
    const before = FhirRequest.of(t, c.token);
    expect((await before.get(`Patient/${ids.a}`)).status).toBe(200); // verified, and its client cached as live
    const res = await clientsApi(t.token).rotate(c.client_id);
    expect(res.status).toBe(200);
    const after = FhirRequest.of(t, await fetchToken(t.app, c.client_id, res.body.client_secret));
    await new Promise((r) => setTimeout(r, 5500));
    const stale = await before.get(`Patient/${ids.a}`);
    expectOutcome(stale, 401);
    expect(stale.body.issue[0].diagnostics).toMatch(/rotated/);
    expect((await after.get(`Patient/${ids.a}`)).status).toBe(200);
  });

  it('revoke: no new tokens at once, and the old token answers 401 once the cache expires (~5 s)', async () => {
    const c = await newClient({ role: 'ehr-system' });
    const api = FhirRequest.of(t, c.token);
    expect((await api.get(`Patient/${ids.a}`)).status).toBe(200); // the client is seen active (and cached so)

    const res = await clientsApi(t.token).revoke(c.client_id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ client_id: c.client_id, revoked: true });

    const refused = await tokenRequest(c.client_id, c.client_secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
    expect(refused.body.access_token).toBeUndefined();
    const listed = ((await clientsApi(t.token).list()).body as Json[]).find((x) => x.client_id === c.client_id);
    expect(listed?.revoked_at).toEqual(expect.any(String));

    await new Promise((r) => setTimeout(r, 5500));
    const stale = await api.get(`Patient/${ids.a}`);
    expectOutcome(stale, 401);
    expect(stale.body.issue[0].code).toBe('login');
    // Revoked clients cannot be rotated back to life or revoked twice.
    expectOutcome(await clientsApi(t.token).rotate(c.client_id), 404);
    expectOutcome(await clientsApi(t.token).revoke(c.client_id), 404);
    expect((await tokenRequest(c.client_id, c.client_secret)).status).toBe(401);
  });

  it('an administrator cannot revoke itself (409)', async () => {
    expectOutcome(await clientsApi(clients.admin.token).revoke(clients.admin.client_id), 409);
    expect((await clientsApi(clients.admin.token).list()).status).toBe(200);
  });

  describe('bad requests are 400 OperationOutcomes and create nothing', () => {
    let count: number;
    beforeAll(async () => {
      count = ((await clientsApi(t.token).list()).body as Json[]).length;
    });
    afterEach(async () => {
      expect(((await clientsApi(t.token).list()).body as Json[]).length).toBe(count);
    });

    it('an unknown or missing role', async () => {
      expectOutcome(await clientsApi(t.token).create({ role: 'superuser' }), 400, 'role');
      expectOutcome(await clientsApi(t.token).create({ role: '__proto__' }), 400, 'role');
      expectOutcome(await clientsApi(t.token).create({ role: 'toString' }), 400, 'role');
      expectOutcome(await clientsApi(t.token).create({}), 400, 'role');
      expectOutcome(await clientsApi(t.token).create({ role: ['admin'] }), 400, 'role');
    });

    it('a clinician without a practitioner, or with a bad one', async () => {
      expectOutcome(await clientsApi(t.token).create({ role: 'clinician' }), 400, 'practitioner');
      expectOutcome(await clientsApi(t.token).create({ role: 'clinician', practitioner: 'Practitioner/does-not-exist' }), 400, 'practitioner');
      expectOutcome(await clientsApi(t.token).create({ role: 'clinician', practitioner: `Patient/${ids.a}` }), 400, 'practitioner');
      expectOutcome(await clientsApi(t.token).create({ role: 'clinician', practitioner: ids.p1 }), 400, 'practitioner');
    });

    it('a patient binding on a clinician, a practitioner binding on a patient', async () => {
      expectOutcome(await clientsApi(t.token).create({ role: 'clinician', practitioner: `Practitioner/${ids.p1}`, patient: `Patient/${ids.a}` }), 400, 'patient');
      expectOutcome(await clientsApi(t.token).create({ role: 'patient', patient: `Patient/${ids.a}`, practitioner: `Practitioner/${ids.p1}` }), 400, 'practitioner');
      expectOutcome(await clientsApi(t.token).create({ role: 'ehr-system', patient: `Patient/${ids.a}` }), 400, 'patient');
    });

    it('a patient client without a Patient, or bound to a missing or deleted one', async () => {
      expectOutcome(await clientsApi(t.token).create({ role: 'patient' }), 400, 'patient');
      expectOutcome(await clientsApi(t.token).create({ role: 'patient', patient: 'Patient/nobody-here' }), 400, 'patient');
      const doomed = (await created(patient({ family: 'Doomed' }))).id;
      expect((await admin.delete(`Patient/${doomed}`)).status).toBe(200);
      expectOutcome(await clientsApi(t.token).create({ role: 'patient', patient: `Patient/${doomed}` }), 400, 'patient');
    });
  });

  it('non-admin tokens get 403 on every endpoint, and nothing changes', async () => {
    const down = await tokenRequest(TEST_CLIENT_ID, TEST_CLIENT_SECRET, 'system/*.cruds');
    expect(down.body.scope).toBe('system/*.cruds');
    const victim = clients.scientist;
    const before = ((await clientsApi(t.token).list()).body as Json[]).length;
    const tokens = { ehr: clients.ehr.token, clinician: clients.clinician.token, scientist: clients.scientist.token, patient: clients.patientA.token, adminWithoutAdminScope: down.body.access_token };
    for (const [who, token] of Object.entries(tokens)) {
      const api = clientsApi(token);
      for (const [what, res] of [
        ['create', await api.create({ role: 'admin' })],
        ['list', await api.list()],
        ['rotate', await api.rotate(victim.client_id)],
        ['revoke', await api.revoke(victim.client_id)],
      ] as const) {
        if (res.status !== 403) throw new Error(`${who} ${what}: expected 403, got ${res.status} ${JSON.stringify(res.body)}`);
        expectOutcome(res, 403);
        expect(res.body.issue[0].code).toBe('forbidden');
        expect(JSON.stringify(res.body)).not.toContain('client_secret');
      }
    }
    expect(((await clientsApi(t.token).list()).body as Json[]).length).toBe(before);
    // The victim was neither rotated nor revoked.
    expect((await tokenRequest(victim.client_id, victim.client_secret)).status).toBe(200);
  });

  it('no token is 401 on the clients API', async () => {
    for (const res of [await clientsApi(undefined).list(), await clientsApi(undefined).create({ role: 'admin' }), await clientsApi(undefined).revoke(clients.ehr.client_id)]) {
      expectOutcome(res, 401);
    }
  });
});

describe('SMART scopes', () => {
  it('no client gets more than its role ceiling, whatever it asks for', async () => {
    const ask = async (c: { client_id: string; client_secret: string }, scope: string) => tokenRequest(c.client_id, c.client_secret, scope);
    for (const [c, scope] of [
      [clients.patientA, 'patient/*.cruds'],
      [clients.patientA, 'system/*.rs'],
      [clients.patientA, 'user/Patient.rs'],
      [clients.scientist, 'system/*.cruds'],
      [clients.scientist, 'system/Patient.c'],
      [clients.clinician, 'system/*.rs'],
      [clients.ehr, 'admin'],
    ] as const) {
      const res = await ask(c, scope);
      if (res.status !== 400) throw new Error(`${c.client_id} asking ${scope}: ${res.status} ${JSON.stringify(res.body)}`);
      expect(res.body.error).toBe('invalid_scope');
      expect(res.body.access_token).toBeUndefined();
    }
    const partial = await ask(clients.scientist, 'system/*.rs system/Observation.c admin');
    expect(partial.status).toBe(200);
    expect(partial.body.scope).toBe('system/*.rs');
    await refusedAndNothingStored(() => FhirRequest.of(t, partial.body.access_token).post('Observation', labObservation(ids.c)), 403);
  });

  it('a patient client asking for narrower or v1 scopes stays confined to its compartment', async () => {
    const v1 = await tokenRequest(clients.patientA.client_id, clients.patientA.client_secret, 'patient/*.read');
    expect(v1.status).toBe(200);
    expect(v1.body.scope).toBe('patient/*.read');
    const api = FhirRequest.of(t, v1.body.access_token);
    expect((await api.get(`Observation/${ids.aObs}`)).status).toBe(200);
    expectOutcome(await api.get(`Observation/${ids.bObs}`), 404);
    await refusedAndNothingStored(() => api.post('Observation', labObservation(ids.a)), 403);
    const narrow = await tokenRequest(clients.patientA.client_id, clients.patientA.client_secret, 'patient/Observation.r');
    expect(narrow.body.scope).toBe('patient/Observation.r');
    const obsOnly = FhirRequest.of(t, narrow.body.access_token);
    expect((await obsOnly.get(`Observation/${ids.aObs}`)).status).toBe(200);
    expectOutcome(await obsOnly.get(`Observation/${ids.bObs}`), 404);
    expectOutcome(await obsOnly.get(`Patient/${ids.a}`), 403);
    expectOutcome(await obsOnly.get('Observation/_history'), 403); // no s
  });

  it('an ehr-system token creates, reads, updates and deletes', async () => {
    const api = FhirRequest.of(t, clients.ehr.token);
    const c = await api.post('Observation', labObservation(ids.c));
    expect(c.status).toBe(201);
    const id = c.body.id;
    expect((await api.get(`Observation/${id}`)).status).toBe(200);
    const u = await api.put(`Observation/${id}`, { ...c.body, status: 'amended' });
    expect(u.status).toBe(200);
    expect(u.body.meta.versionId).toBe('2');
    expect((await api.get(`Observation/${id}/_history`)).body.total).toBe(2);
    const p = await patch(clients.ehr.token, `Observation/${id}`, [{ op: 'replace', path: '/status', value: 'corrected' }]);
    expect(p.status).toBe(200);
    expect(p.body.status).toBe('corrected');
    expect((await api.delete(`Observation/${id}`)).status).toBe(200);
    expect((await api.get(`Observation/${id}`)).status).toBe(410);
  });

  it('a clinician token (user/*.cruds) writes too', async () => {
    const api = FhirRequest.of(t, clients.clinician.token);
    const c = await api.post('Observation', labObservation(ids.c));
    expect(c.status).toBe(201);
    expect((await api.get(`Observation/${ids.bObs}`)).status).toBe(200);
    expect((await api.delete(`Observation/${c.body.id}`)).status).toBe(200);
  });

  describe('a data-scientist token (system/*.rs, for de-identified Bulk Data export only)', () => {
    let api: FhirRequest;
    beforeAll(() => {
      api = FhirRequest.of(t, clients.scientist.token);
    });

    it('reads, vreads, searches and reads history at no level: identified data is refused (403)', async () => {
      for (const path of [`Patient/${ids.a}`, `Observation/${ids.bObs}`, `Observation/${ids.bObs}/_history/1`, `Observation/${ids.bObs}/_history`, 'Observation/_history', '_history', 'Patient?_elements=name,identifier']) {
        expectOutcome(await api.get(path), 403);
      }
      const batch = await api.post('', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${ids.b}` } }] });
      expect(batch.status).toBe(200);
      expect(batch.body.entry[0].response.status).toBe('403');
    });

    it('create, update, delete, PATCH, conditional create/update/delete and bundle writes are 403 and store nothing', async () => {
      const token = clients.scientist.token;
      const obs = (await admin.get(`Observation/${ids.aObs}`)).body;
      await refusedAndNothingStored(() => api.post('Observation', labObservation(ids.a)), 403);
      await refusedAndNothingStored(() => api.post('Patient', patient()).set('If-None-Exist', 'identifier=urn:x|1'), 403);
      await refusedAndNothingStored(() => api.put(`Observation/${ids.aObs}`, { ...obs, status: 'cancelled' }), 403);
      await refusedAndNothingStored(() => api.put(`Observation/brand-new-id`, { ...labObservation(ids.a), id: 'brand-new-id' }), 403);
      await refusedAndNothingStored(() => api.put(`Observation?_id=${ids.aObs}`, { ...obs, status: 'cancelled' }), 403);
      await refusedAndNothingStored(() => api.delete(`Observation/${ids.aObs}`), 403);
      await refusedAndNothingStored(() => api.delete(`Observation?_id=${ids.aObs}`), 403);
      await refusedAndNothingStored(() => patch(token, `Observation/${ids.aObs}`, [{ op: 'replace', path: '/status', value: 'cancelled' }]), 403);
      await refusedAndNothingStored(() => patch(token, `Observation?_id=${ids.aObs}`, [{ op: 'replace', path: '/status', value: 'cancelled' }]), 403);
      await refusedAndNothingStored(
        () => api.post('', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: labObservation(ids.a), request: { method: 'POST', url: 'Observation' } }] }),
        403,
      );
      const batchBefore = await storedVersions();
      const batch = await api.post('', {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: labObservation(ids.a), request: { method: 'POST', url: 'Observation' } },
          { request: { method: 'DELETE', url: `Observation/${ids.aObs}` } },
        ],
      });
      expect(batch.status).toBe(200);
      expect(batch.body.entry.map((e: Json) => e.response.status)).toEqual(['403', '403']);
      expect(await storedVersions()).toBe(batchBefore);
      const after = (await admin.get(`Observation/${ids.aObs}`)).body;
      expect(after).toEqual(obs);
    });
  });

  describe('a down-scoped token (system/Patient.rs from the admin client)', () => {
    let api: FhirRequest;
    let downToken: string;
    beforeAll(async () => {
      const res = await tokenRequest(TEST_CLIENT_ID, TEST_CLIENT_SECRET, 'system/Patient.rs');
      expect(res.status).toBe(200);
      expect(res.body.scope).toBe('system/Patient.rs');
      downToken = res.body.access_token;
      api = FhirRequest.of(t, downToken);
    });

    it('reads a Patient and its history', async () => {
      expect((await api.get(`Patient/${ids.a}`)).status).toBe(200);
      expect((await api.get(`Patient/${ids.a}/_history`)).status).toBe(200);
      expect((await api.get('Patient/_history')).status).toBe(200);
    });

    it('reading another type is 403, so is system history', async () => {
      expectOutcome(await api.get(`Observation/${ids.aObs}`), 403);
      expectOutcome(await api.get(`Observation/${ids.aObs}/_history/1`), 403);
      expectOutcome(await api.get(`Observation/${ids.aObs}/_history`), 403);
      expectOutcome(await api.get('Observation/_history'), 403);
      expectOutcome(await api.get('_history'), 403);
      expectOutcome(await api.get('Observation/does-not-exist'), 403);
    });

    it('creating, updating or deleting a Patient is 403 and stores nothing', async () => {
      const a = (await admin.get(`Patient/${ids.a}`)).body;
      await refusedAndNothingStored(() => api.post('Patient', patient()), 403);
      await refusedAndNothingStored(() => api.put(`Patient/${ids.a}`, { ...a, active: false }), 403);
      await refusedAndNothingStored(() => api.delete(`Patient/${ids.a}`), 403);
    });

    it('$everything answers only the types the token may read', async () => {
      const res = await api.get(`Patient/${ids.a}/$everything`);
      expect(res.status).toBe(200);
      expect(refsOf(res.body)).toEqual([`Patient/${ids.a}`]);
    });

    it('the clients API is refused (no admin scope)', async () => {
      expectOutcome(await clientsApi(downToken).list(), 403);
    });
  });

  describe('bundle entries need their own permission (system/Patient.cruds)', () => {
    let api: FhirRequest;
    beforeAll(async () => {
      const res = await tokenRequest(TEST_CLIENT_ID, TEST_CLIENT_SECRET, 'system/Patient.cruds');
      expect(res.body.scope).toBe('system/Patient.cruds');
      api = FhirRequest.of(t, res.body.access_token);
    });

    it('a transaction with one disallowed entry is 403 as a whole and stores nothing', async () => {
      const oo = await refusedAndNothingStored(
        () =>
          api.post('', {
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [
              { fullUrl: 'urn:uuid:4f1f6f1e-1d0a-4d53-9b5e-2a4d1f7c0001', resource: patient({ family: 'TxAllowed' }), request: { method: 'POST', url: 'Patient' } },
              { resource: labObservation(ids.a), request: { method: 'POST', url: 'Observation' } },
            ],
          }),
        403,
      );
      expect(JSON.stringify(oo)).toContain('Bundle.entry[1]');
      // Control: the allowed entry alone goes through.
      const ok = await api.post('', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient({ family: 'TxAlone' }), request: { method: 'POST', url: 'Patient' } }] });
      expect(ok.status).toBe(200);
      expect(ok.body.entry[0].response.status).toMatch(/^201/);
    });

    it('a batch answers 403 for the disallowed entry and runs the others', async () => {
      const before = await storedVersions();
      const res = await api.post('', {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: patient({ family: 'BatchAllowed' }), request: { method: 'POST', url: 'Patient' } },
          { resource: labObservation(ids.a), request: { method: 'POST', url: 'Observation' } },
          { request: { method: 'GET', url: `Patient/${ids.a}` } },
          { request: { method: 'GET', url: `Observation/${ids.aObs}` } },
          { request: { method: 'DELETE', url: `Observation/${ids.aObs}` } },
        ],
      });
      expect(res.status).toBe(200);
      expect(res.body.type).toBe('batch-response');
      const statuses = (res.body.entry as Json[]).map((e) => e.response.status);
      expect(statuses).toEqual([expect.stringMatching(/^201/), '403', expect.stringMatching(/^200/), '403', '403']);
      for (const i of [1, 3, 4]) {
        expect(res.body.entry[i].response.outcome).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden' }] });
      }
      expect(res.body.entry[2].resource.id).toBe(ids.a);
      expect(await storedVersions()).toBe(before + 1);
      const createdId = res.body.entry[0].response.location.split('/')[1];
      expect((await admin.get(`Patient/${createdId}`)).body.name[0].family).toBe('BatchAllowed');
      expect((await admin.get(`Observation/${ids.aObs}`)).status).toBe(200);
    });
  });
});

describe('the patient compartment (a patient token for A)', () => {
  let api: FhirRequest;
  let token: string;
  /** A's Observation made and deleted by the deletion test (two versions in A's history). */
  let ownDeleted: string;
  beforeAll(() => {
    token = clients.patientA.token;
    api = FhirRequest.of(t, token);
  });

  it("reads A, A's Observation and Encounter", async () => {
    expect((await api.get(`Patient/${ids.a}`)).body.id).toBe(ids.a);
    expect((await api.get(`Observation/${ids.aObs}`)).body.id).toBe(ids.aObs);
    expect((await api.get(`Encounter/${ids.aEnc}`)).body.id).toBe(ids.aEnc);
    expect((await api.get(`Observation/${ids.aObs}/_history/1`)).status).toBe(200);
    expect((await api.get(`Observation/${ids.aObs}/_history`)).body.total).toBe(1);
  });

  it("reads of B and B's resources answer 404, exactly like a missing id", async () => {
    const missing = 'no-such-resource-0000';
    for (const [type, id] of [
      ['Patient', ids.b],
      ['Observation', ids.bObs],
      ['Encounter', ids.bEnc],
    ] as const) {
      const hidden = await api.get(`${type}/${id}`);
      expectOutcome(hidden, 404);
      expect(shape(hidden, id)).toEqual(shape(await api.get(`${type}/${missing}`), missing));
      // The admin sees it, so the 404 is the compartment at work.
      expect((await admin.get(`${type}/${id}`)).status).toBe(200);
    }
  });

  it("vread and instance history of B's resources answer 404 like a missing id", async () => {
    const missing = 'no-such-resource-0001';
    for (const v of ['1', '2', '99']) {
      const hidden = await api.get(`Observation/${ids.bObs}/_history/${v}`);
      expectOutcome(hidden, 404);
      expect(shape(hidden, ids.bObs)).toEqual(shape(await api.get(`Observation/${missing}/_history/${v}`), missing));
    }
    for (const [type, id] of [
      ['Observation', ids.bObs],
      ['Patient', ids.b],
    ] as const) {
      const hidden = await api.get(`${type}/${id}/_history`);
      expectOutcome(hidden, 404);
      expect(shape(hidden, id)).toEqual(shape(await api.get(`${type}/${missing}/_history`), missing));
    }
  });

  it("a deleted resource of B's answers 404 (not 410, which would reveal it existed)", async () => {
    const doomed = (await created(labObservation(ids.b))).id;
    expect((await admin.delete(`Observation/${doomed}`)).status).toBe(200);
    expect((await admin.get(`Observation/${doomed}`)).status).toBe(410);
    const missing = 'no-such-resource-0004';
    for (const suffix of ['', '/_history/1', '/_history/2', '/_history']) {
      const hidden = await api.get(`Observation/${doomed}${suffix}`);
      expectOutcome(hidden, 404);
      expect(shape(hidden, doomed)).toEqual(shape(await api.get(`Observation/${missing}${suffix}`), missing));
    }
    // Control: A's own deleted resource is 410 to A.
    const own = (await created(labObservation(ids.a))).id;
    expect((await admin.delete(`Observation/${own}`)).status).toBe(200);
    expectOutcome(await api.get(`Observation/${own}`), 410);
    ownDeleted = own;
  });

  it("type history holds only A's resources", async () => {
    const obs = await api.get('Observation/_history');
    expect(obs.status).toBe(200);
    expect(new Set(refsOf(obs.body))).toEqual(new Set([`Observation/${ids.aObs}`, `Observation/${ids.aObs2}`, `Observation/${ownDeleted}`]));
    expect(obs.body.total).toBe(4); // ownDeleted has a version and its deletion
    expect(await api.historyTotal('Observation')).toBe(4); // _count=0 counts apart
    expect(await api.historyTotal('Practitioner')).toBe(0);
    const patients = await api.get('Patient/_history');
    expect(refsOf(patients.body)).toEqual([`Patient/${ids.a}`]);
    expect(patients.body.total).toBe(1);
    const encounters = await api.get('Encounter/_history');
    expect(refsOf(encounters.body)).toEqual([`Encounter/${ids.aEnc}`]);
    // Control: the admin's type history has B's too.
    expect(refsOf((await admin.get('Observation/_history?_count=1000')).body)).toContain(`Observation/${ids.bObs}`);
  });

  it("system history holds only A's compartment", async () => {
    const res = await api.get('_history?_count=1000');
    expect(res.status).toBe(200);
    const refs = refsOf(res.body);
    expect(new Set(refs)).toEqual(new Set([`Patient/${ids.a}`, `Observation/${ids.aObs}`, `Observation/${ids.aObs2}`, `Encounter/${ids.aEnc}`, `Observation/${ownDeleted}`]));
    expect(res.body.total).toBe(refs.length);
    expect(refs.length).toBe(6);
    expect(await api.historyTotal()).toBe(6);
    // _at (the versions current at an instant) keeps to the compartment too.
    const at = await api.get(`_history?_count=1000&_at=${encodeURIComponent(new Date().toISOString())}`);
    expect(at.status).toBe(200);
    expect(new Set(refsOf(at.body))).toEqual(new Set(refs));
    // Nothing of B's, and no shared resource either (system history of a confined token is its compartment).
    const fullUrls = [...res.body.entry, ...at.body.entry].map((e: Json) => e.fullUrl as string);
    for (const id of [ids.b, ids.bObs, ids.bEnc, ids.p1, ids.p2]) expect(fullUrls.filter((u) => u.endsWith(`/${id}`))).toEqual([]);
    expect(JSON.stringify(res.body)).not.toContain('Bravo');
  });

  it("Patient/B/$everything is 404; Patient/A/$everything holds A's compartment and what it references outside any compartment", async () => {
    const hidden = await api.get(`Patient/${ids.b}/$everything`);
    expectOutcome(hidden, 404);
    expect(shape(hidden, ids.b)).toEqual(shape(await api.get('Patient/nobody-0002/$everything'), 'nobody-0002'));
    const res = await api.get(`Patient/${ids.a}/$everything`);
    expect(res.status).toBe(200);
    const refs = refsOf(res.body);
    expect(new Set(refs)).toEqual(new Set([`Patient/${ids.a}`, `Observation/${ids.aObs}`, `Observation/${ids.aObs2}`, `Encounter/${ids.aEnc}`, `Practitioner/${ids.p1}`]));
    expect(res.body.total).toBe(refs.length);
    // B's Observation is referenced by A's (derivedFrom) but lies in B's compartment: not served.
    expect(refs).not.toContain(`Observation/${ids.bObs}`);
    expect(refs).not.toContain(`Practitioner/${ids.p2}`);
  });

  it("bundle GET entries: another patient's resource is 404 in that entry; searches see only A's compartment", async () => {
    const bSsn = (await admin.get(`Patient/${ids.b}`)).body.identifier[0] as { system: string; value: string };
    // Control: the admin finds B by that identifier.
    const found = await admin.post('', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient?identifier=${encodeURIComponent(`${bSsn.system}|${bSsn.value}`)}` } }] });
    expect(found.body.entry[0].resource.total).toBe(1);
    const batch = await api.post('', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Observation/${ids.aObs}` } },
        { request: { method: 'GET', url: `Observation/${ids.bObs}` } },
        { request: { method: 'GET', url: `Observation/${ids.bObs}/_history/1` } },
        { request: { method: 'GET', url: `Patient/${ids.b}` } },
        { request: { method: 'GET', url: `Observation?_id=${ids.bObs},${ids.aObs}` } },
        { request: { method: 'GET', url: 'Observation/no-such-resource-0003' } },
        { request: { method: 'GET', url: `Patient?identifier=${encodeURIComponent(`${bSsn.system}|${bSsn.value}`)}` } },
      ],
    });
    expect(batch.status).toBe(200);
    const e = batch.body.entry as Json[];
    expect(e.map((x) => x.response.status)).toEqual([expect.stringMatching(/^200/), '404', '404', '404', expect.stringMatching(/^200/), '404', expect.stringMatching(/^200/)]);
    expect(e[6].resource).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 0 });
    expect(e[6].resource.entry ?? []).toEqual([]);
    expect(e[0].resource.id).toBe(ids.aObs);
    for (const i of [1, 2, 3]) expect(e[i].resource).toBeUndefined();
    expect(e[1].response.outcome.issue[0].code).toBe(e[5].response.outcome.issue[0].code);
    expect(refsOf(e[4].resource)).toEqual([`Observation/${ids.aObs}`]);
    expect(e[4].resource.total).toBe(1);
    expect(JSON.stringify(batch.body)).not.toContain('Bravo');

    const tx = await api.post('', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: `Observation/${ids.aObs}` } },
        { request: { method: 'GET', url: `Observation/${ids.bObs}` } },
      ],
    });
    const oo = expectOutcome(tx, 404);
    expect(JSON.stringify(oo)).toContain('Bundle.entry[1]');
    const missingTx = await api.post('', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: `Observation/${ids.aObs}` } },
        { request: { method: 'GET', url: 'Observation/no-such-resource-0005' } },
      ],
    });
    expect(shape(tx, ids.bObs)).toEqual(shape(missingTx, 'no-such-resource-0005'));
    expect(JSON.stringify(oo)).not.toContain('Bravo');
    const own = await api.post('', { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: `Observation/${ids.aObs}` } }] });
    expect(own.status).toBe(200);
    expect(own.body.entry[0].resource.id).toBe(ids.aObs);
  });

  it('a resource that belongs to no patient (a Practitioner) is readable', async () => {
    expect((await api.get(`Practitioner/${ids.p1}`)).status).toBe(200);
    expect((await api.get(`Practitioner/${ids.p2}`)).status).toBe(200);
  });

  it('every write by the patient token is 403 and stores nothing, on its own resources too', async () => {
    const a = (await admin.get(`Patient/${ids.a}`)).body;
    const obs = (await admin.get(`Observation/${ids.aObs}`)).body;
    await refusedAndNothingStored(() => api.post('Observation', labObservation(ids.a)), 403);
    await refusedAndNothingStored(() => api.post('Patient', patient()), 403);
    await refusedAndNothingStored(() => api.put(`Patient/${ids.a}`, { ...a, active: false }), 403);
    await refusedAndNothingStored(() => api.put(`Observation/${ids.aObs}`, { ...obs, status: 'cancelled' }), 403);
    await refusedAndNothingStored(() => api.put(`Observation/${ids.bObs}`, { ...obs, id: ids.bObs }), 403);
    await refusedAndNothingStored(() => api.delete(`Observation/${ids.aObs}`), 403);
    await refusedAndNothingStored(() => api.delete(`Observation/${ids.bObs}`), 403);
    await refusedAndNothingStored(() => api.delete(`Observation?_id=${ids.aObs}`), 403);
    await refusedAndNothingStored(() => patch(token, `Patient/${ids.a}`, [{ op: 'replace', path: '/active', value: false }]), 403);
    await refusedAndNothingStored(
      () => api.post('', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: labObservation(ids.a), request: { method: 'POST', url: 'Observation' } }] }),
      403,
    );
    const before = await storedVersions();
    const batch = await api.post('', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'DELETE', url: `Observation/${ids.aObs}` } }] });
    expect(batch.body.entry[0].response.status).toBe('403');
    expect(await storedVersions()).toBe(before);
    expect((await admin.get(`Patient/${ids.a}`)).body).toEqual(a);
    expect((await admin.get(`Observation/${ids.aObs}`)).body).toEqual(obs);
  });
});

describe('discovery', () => {
  it('smart-configuration at the root and at the FHIR base, without a token', async () => {
    for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) {
      const res = await request(server()).get(path);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/json/);
      expect(res.body.token_endpoint).toMatch(/\/auth\/token$/);
      expect(res.body.grant_types_supported).toContain('client_credentials');
      expect(res.body.capabilities).toEqual(expect.arrayContaining(['permission-v2']));
      expect(res.body.jwks_uri).toMatch(/\/\.well-known\/jwks\.json$/);
      // The advertised token endpoint is the real one.
      const tokenPath = new URL(res.body.token_endpoint).pathname;
      const issued = await request(server()).post(tokenPath).type('form').send({ grant_type: 'client_credentials', client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET });
      expect(issued.status).toBe(200);
    }
  });

  it('the JWKS (public, no private parts) verifies the tokens the server issues, and only those', async () => {
    const res = await request(server()).get('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    const jwks = res.body as { keys: Json[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const k of jwks.keys) {
      expect(k).toMatchObject({ kty: 'EC', crv: 'P-256' });
      expect(k.d).toBeUndefined();
    }
    const keySet = createLocalJWKSet(jwks as never);
    for (const token of [t.token, clients.patientA.token, clients.clinician.token]) {
      const { payload, protectedHeader } = await jwtVerify(token, keySet, { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE });
      expect(protectedHeader.alg).toBe('ES256');
      expect(jwks.keys.map((k) => k.kid)).toContain(protectedHeader.kid);
      expect(typeof payload.sub).toBe('string');
    }
    expect(TOKEN_ISSUER).toBe('fhir-ai-server');
    expect(TOKEN_AUDIENCE).toBe('fhir-ai-server/fhir');
    // A token whose payload was changed no longer verifies.
    const [h, p, s] = clients.patientA.token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, patient: ids.b })).toString('base64url')}.${s}`;
    await expect(jwtVerify(forged, keySet, { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE })).rejects.toThrow();
    expectOutcome(await FhirRequest.of(t, forged).get(`Patient/${ids.b}`), 401);
  });
});

describe('a resource that changed patient (history moves with it)', () => {
  it("its new owner's patient token lists and vreads only the versions filed under that patient", async () => {
    const from = (await created(patient({ family: 'Foxtrot' }))).id;
    const to = (await created(patient({ family: 'Golf' }))).id;
    const api = FhirRequest.of(t, (await newClient({ role: 'patient', patient: `Patient/${to}` })).token);
    const before = await api.historyTotal('Observation');
    // Filed under Foxtrot, then moved to Golf: version 1 is Foxtrot's.
    const moved = (await created(labObservation(from, { valueQuantity: undefined, valueString: 'Foxtrot only' }))).id;
    expect((await admin.put(`Observation/${moved}`, labObservation(to, { id: moved }))).status).toBe(200);
    // Filed under Golf, moved to Foxtrot and back: versions 1 and 3 are Golf's, 2 Foxtrot's.
    const back = (await created(labObservation(to))).id;
    expect((await admin.put(`Observation/${back}`, labObservation(from, { id: back, valueQuantity: undefined, valueString: 'Foxtrot too' }))).status).toBe(200);
    expect((await admin.put(`Observation/${back}`, labObservation(to, { id: back }))).status).toBe(200);
    // Control: the administrator sees every version.
    expect((await admin.get(`Observation/${moved}/_history`)).body.total).toBe(2);
    expect((await admin.get(`Observation/${moved}/_history/1`)).body.valueString).toBe('Foxtrot only');

    expect((await api.get(`Observation/${moved}`)).status).toBe(200);
    expectOutcome(await api.get(`Observation/${moved}/_history/1`), 404);
    expectOutcome(await api.get(`Observation/${back}/_history/2`), 404);
    expect((await api.get(`Observation/${back}/_history/1`)).status).toBe(200);
    const instance = await api.get(`Observation/${moved}/_history`);
    expect(instance.body.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['2']);
    expect(instance.body.total).toBe(1);
    expect((await api.get(`Observation/${back}/_history`)).body.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['3', '1']);
    for (const path of ['Observation/_history?_count=1000', '_history?_count=1000']) {
      const res = await api.get(path);
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.body)).not.toContain('Foxtrot');
    }
    expect(await api.historyTotal('Observation')).toBe(before + 3);
    // A batch's vread entry is checked the same way.
    const batch = await api.post('', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Observation/${moved}/_history/1` } }] });
    expect(batch.body.entry[0].response.status).toBe('404');
  });
});
