/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import request from 'supertest';
import { expectStatus, FhirApi, type Json } from '../helpers/fhir-api';
import { FhirRequest } from '../helpers/fhir-request';
import { fhirKitClient, type FhirKitClient } from '../helpers/fhir-kit';
import { highRiskCadObservations } from '../helpers/ai-fixtures';
import { RECOMMENDATION_CODE, cadCondition } from '../helpers/ai-recommendations';
import { ConnectionsApi, INVALID_REMOTE_RESOURCES, LocalInstance, MisbehavingRemote, relativeReferences, tokenFor } from '../helpers/exchange-harness';
import { postTransaction } from '../helpers/search-fixtures';
import { hasSynthea, loadSyntheaBundle, SYNTHEA_DIR } from '../helpers/synthea';
import { startTestApp, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { waitFor } from '../helpers/wait-for';
import { buildForProcesses, type TestBuild } from '../helpers/worker-process';
import { NEVER_PULLED } from '../../src/exchange/pull/pull-order';
import { identifierShape } from '../../src/exchange/identity';
import { AI_SOURCE } from '../../src/ai/ai-plugin';

/**
 * Two-way exchange end to end, with two instances of this server on one machine. The remote R
 * (in this process) plays the hospital's EHR and holds a Synthea patient with a coronary profile;
 * the local instance L runs its API and its worker as real processes. Everything is driven through
 * L's HTTP API as an administrator and a clinician would: a connection to R (OAuth2 client
 * credentials against R's own token endpoint), a pull of the patient, the AI's RiskAssessment and
 * recommendation on L, the clinician's approval pushed back to R, a worker killed in the middle of
 * a many-page sync, and remotes that fail, hang or send invalid resources.
 */
jest.setTimeout(600_000);

const OUR_SYSTEM = 'urn:fhir-ai-server';
const CAD_MODEL = 'cad-cleveland-1.0.0';
const PAGE_SIZE = 10;

const describeWithSynthea = hasSynthea() ? describe : describe.skip;
if (!hasSynthea()) {
  // eslint-disable-next-line no-console
  console.warn(`Synthea fixtures not found at ${SYNTHEA_DIR}: skipping the two-instance exchange suite`);
}

let building: Promise<TestBuild> | undefined;
let R: TestApp;
let L: LocalInstance;
let conns: ConnectionsApi;
let rFhir: FhirKitClient;
let lFhir: FhirKitClient;
/** R's FHIR base URL: the connection's base URL, hence the identifier system of what L pulls from it. */
let rBase: string;

/** What the suite learns as it goes (each step builds on the previous ones). */
const s = {} as {
  connection: string;
  rPatient: string;
  lPatient: string;
  rPractitioner: string;
  /** R's resources as loaded (ids assigned by R), by "Type/id". */
  loaded: Map<string, Json>;
  clinicianToken: string;
  task: Json;
  riskAssessment: Json;
};

/** Every resource of a search, following `next` links (fhir-kit-client's nextPage). */
async function searchAll(client: FhirKitClient, resourceType: string, searchParams: Record<string, string>): Promise<Json[]> {
  const out: Json[] = [];
  let bundle = (await client.search({ resourceType, searchParams: { _count: '200', ...searchParams } })) as Json;
  for (;;) {
    out.push(...((bundle.entry ?? []) as Json[]).map((e) => e.resource as Json));
    const next = client.nextPage({ bundle: bundle as never });
    if (!next || !(bundle.link as Json[] | undefined)?.some((l) => l.relation === 'next')) return out;
    bundle = (await next) as Json;
  }
}

async function total(client: FhirKitClient, resourceType: string, searchParams: Record<string, string>): Promise<number> {
  const bundle = (await client.search({ resourceType, searchParams: { ...searchParams, _summary: 'count' } })) as Json;
  return bundle.total as number;
}

/** The remote id of a resource pulled to L through `base` ("Type/remoteId"): the remote's identifier, else (types without one) its meta.source. */
function remoteKey(r: Json, base = rBase): string | undefined {
  const source = typeof r.meta?.source === 'string' && r.meta.source.startsWith(`${base}/`) ? (r.meta.source as string).slice(base.length + 1) : undefined;
  return ([r.identifier ?? []].flat() as Json[]).find((i) => i.system === base)?.value ?? source;
}

/** Whether a resource on R came from L (pushed): it carries L's identifier or tag. */
function isEcho(r: Json): boolean {
  return !!((r.identifier as Json[] | undefined)?.some((i) => i.system === OUR_SYSTEM) || (r.meta?.tag as Json[] | undefined)?.some((t) => t.system === OUR_SYSTEM));
}

/** The types R holds resources of, among those a pull takes (what its CapabilityStatement can search, but subscriptions, endpoints and audit). */
async function remoteTypes(): Promise<string[]> {
  const cs = (await rFhir.capabilityStatement()) as Json;
  const searchable = (cs.rest[0].resource as Json[]).filter((r) => (r.interaction as Json[]).some((i) => i.code === 'search-type')).map((r) => r.type as string);
  const held: string[] = [];
  for (const type of searchable.filter((t) => !NEVER_PULLED.has(t))) if ((await total(rFhir, type, {})) > 0) held.push(type);
  return held.sort();
}

/** Every resource on R by type. */
async function remoteResources(types: string[]): Promise<Map<string, Json[]>> {
  const out = new Map<string, Json[]>();
  for (const type of types) out.set(type, await searchAll(rFhir, type, {}));
  return out;
}

/** Every resource on L pulled through `base`, by type: found by the remote's identifier, or (types without one) by meta.source. */
async function pulledResources(types: string[], base = rBase): Promise<Map<string, Json[]>> {
  const out = new Map<string, Json[]>();
  for (const type of types) {
    out.set(type, identifierShape(type) === 'none' ? (await searchAll(lFhir, type, {})).filter((r) => remoteKey(r, base)) : await searchAll(lFhir, type, { identifier: `${base}|` }));
  }
  return out;
}

/** The run succeeded with no failure (else the connection's recent failures are shown). */
async function expectSucceeded(connection: string, run: Json): Promise<void> {
  const failures = run.status === 'succeeded' && run.failed === 0 ? [] : (expectStatus(await conns.get(connection), 200).body.recentFailures as Json[]).slice(0, 5);
  expect({ status: run.status, failed: run.failed, failures }).toEqual({ status: 'succeeded', failed: 0, failures: [] });
}

const countsOf = (m: Map<string, Json[]>) => Object.fromEntries([...m].map(([t, rs]) => [t, rs.length]));

async function loadIntoR(index: number): Promise<Json[]> {
  return postTransaction(FhirRequest.of(R), loadSyntheaBundle(index));
}

beforeAll(async () => {
  if (!hasSynthea()) return;
  building = buildForProcesses();
  building.catch(() => undefined); // reported where awaited
  R = await startTestApp();
  rBase = `${R.baseUrl}/fhir`;
  rFhir = fhirKitClient(R.baseUrl, R.token);

  // R: a Synthea patient, with a CAD diagnosis and the inputs of the CAD model, so that the AI on L has something to say.
  const stored = await loadIntoR(0);
  s.rPatient = stored.find((r) => r.resourceType === 'Patient')?.id as string;
  s.rPractitioner = stored.find((r) => r.resourceType === 'Practitioner')?.id as string;
  const rApi = new FhirApi(R);
  await highRiskCadObservations(rApi, s.rPatient);
  await cadCondition(rApi, s.rPatient);

  L = await LocalInstance.start(await building, {
    CONNECTION_ALLOW_PRIVATE_ENDPOINTS: 'true',
    EXCHANGE_PAGE_SIZE: String(PAGE_SIZE),
    EXCHANGE_TIMEOUT_MS: '3000',
    EXCHANGE_PUSH_ATTEMPTS: '3',
    // A killed worker's job goes back to wait within seconds rather than BullMQ's 30 s.
    WORKER_LOCK_MS: '5000',
    WORKER_STALLED_INTERVAL_MS: '1000',
    WORKER_RETRY_MS: '1000',
    OUTBOX_POLL_MS: '250',
    AI_CONCURRENCY: '2',
    // Queued runs picked up quickly; a failing run tried 3 times, 0.5 s then 1 s apart.
    EXCHANGE_SYNC_POLL_MS: '250',
    EXCHANGE_SYNC_ATTEMPTS: '3',
    EXCHANGE_SYNC_BACKOFF_MS: '500',
  });
  conns = new ConnectionsApi(L.baseUrl, () => L.token);
  lFhir = fhirKitClient(L.baseUrl, L.token);
  const onR = await remoteResources([...new Set(stored.map((r) => r.resourceType as string)), 'Condition', 'Observation']);
  s.loaded = new Map([...onR.values()].flat().map((r) => [`${r.resourceType as string}/${r.id as string}`, r] as [string, Json]));
}, 600_000);

afterAll(async () => {
  await L?.close();
  await R?.close();
  (await building?.catch(() => undefined))?.remove();
}, 120_000);

describeWithSynthea('a Synthea patient pulled from R, scored on L, its approval pushed back', () => {
  it('creates a connection to R with OAuth2 client credentials (secret not shown) and checks it', async () => {
    const body = { name: 'Remote EHR R', baseUrl: rBase, auth: { type: 'client_credentials', tokenUrl: `${R.baseUrl}/auth/token`, clientId: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET } };
    s.connection = await conns.created(body);
    const view = expectStatus(await conns.get(s.connection), 200).body;
    expect(view).toMatchObject({ id: s.connection, name: 'Remote EHR R', baseUrl: rBase, auth: { type: 'client_credentials', clientId: TEST_CLIENT_ID } });
    expect(JSON.stringify(view)).not.toContain(TEST_CLIENT_SECRET);

    // The check reads R's CapabilityStatement (through R's token endpoint: a wrong secret would fail it).
    const check = await conns.check(s.connection);
    expect({ status: check.status, body: check.body }).toMatchObject({ status: 200, body: { ok: true, fhirVersion: expect.stringMatching(/^4\.0/) } });
    expect(check.body.searchTypes).toEqual(expect.arrayContaining(['Patient', 'Observation', 'Condition']));
    const after = expectStatus(await conns.get(s.connection), 200).body;
    expect(after.lastCheck).toMatchObject({ ok: true });

    // With a wrong secret R's token endpoint refuses: the check says so with an OperationOutcome, never showing the secret.
    const wrongSecret = 'not-the-secret-of-test-admin';
    // (Another path on R: one active connection per base URL; the token request fails before the base URL is used.)
    const wrong = await conns.created({ ...body, name: 'Remote EHR R, wrong secret', baseUrl: `${rBase}-wrong-secret`, auth: { ...body.auth, clientSecret: wrongSecret } });
    const refused = await conns.check(wrong);
    expect({ status: refused.status, body: refused.body }).toMatchObject({ status: 200, body: { ok: false, outcome: { resourceType: 'OperationOutcome' } } });
    expect(JSON.stringify(refused.body)).not.toContain(wrongSecret);
  });

  it('pulls the patient and all its resources: the same count of each type on both sides, references to L\'s copies', async () => {
    const runId = await conns.startSync(s.connection);
    const run = await conns.finished(s.connection, runId, 300_000, () => L.logs());
    await expectSucceeded(s.connection, run);

    // What L pushed to R meanwhile (its AI's results) is left out here: see the echo test below.
    const types = await remoteTypes();
    const remoteAll = await remoteResources(types);
    const pulledAll = await pulledResources(types);
    const echoes = new Set([...remoteAll.values()].flat().filter(isEcho).map((r) => `${r.resourceType as string}/${r.id as string}`));
    const without = (m: Map<string, Json[]>, key: (r: Json) => string | undefined) =>
      new Map([...m].map(([t, rs]) => [t, rs.filter((r) => !echoes.has(key(r) as string))] as [string, Json[]]).filter(([, rs]) => rs.length));
    const remote = without(remoteAll, (r) => `${r.resourceType as string}/${r.id as string}`);
    const pulled = without(pulledAll, (r) => remoteKey(r));
    expect(countsOf(pulled)).toEqual(countsOf(remote));
    for (const t of types.filter((x) => identifierShape(x) !== 'none' && remote.has(x))) {
      // the same through _summary=count, on both sides
      const echoCopies = (pulledAll.get(t)?.length ?? 0) - (pulled.get(t)?.length ?? 0);
      expect({ t, n: (await total(lFhir, t, { identifier: `${rBase}|` })) - echoCopies }).toEqual({ t, n: remote.get(t)?.length });
    }
    // Each stored once by this run.
    expect(run.resourcesIn).toBe([...pulledAll.values()].flat().length);

    // Each remote resource once, known by its remote id; a new local id; meta.source naming the original.
    const rToL = new Map<string, string>();
    const asPulled = new Map<string, Json>();
    for (const [t, rs] of pulledAll) {
      for (const r of rs) {
        const key = remoteKey(r) as string;
        expect(key).toMatch(new RegExp(`^${t}/`));
        expect(rToL.has(key)).toBe(false);
        rToL.set(key, `${t}/${r.id as string}`);
        expect(r.id).not.toBe(key.split('/')[1]);
        // The version the pull wrote (the AI may have written a later one since: a scored Condition).
        const pulledVersion = r.meta.source === `${rBase}/${key}` ? r : ((await lFhir.vread({ resourceType: t, id: r.id, version: '1' })) as Json);
        expect({ key, source: pulledVersion.meta.source }).toEqual({ key, source: `${rBase}/${key}` });
        asPulled.set(key, pulledVersion);
      }
    }
    expect([...s.loaded.keys()].filter((k) => !rToL.has(k))).toEqual([]);
    s.lPatient = (rToL.get(`Patient/${s.rPatient}`) as string).split('/')[1];

    // Every reference on L is the remote's reference, mapped to L's copy (and so resolves on L).
    const originals = new Map([...remoteAll.values()].flat().map((r) => [`${r.resourceType as string}/${r.id as string}`, r] as [string, Json]));
    const unresolved: string[] = [];
    for (const rs of pulled.values()) {
      for (const current of rs) {
        const r = asPulled.get(remoteKey(current) as string) as Json;
        const original = originals.get(remoteKey(r) as string) as Json;
        const expected = relativeReferences(original).map((ref) => rToL.get(ref) ?? `(not pulled: ${ref})`);
        expect({ resource: remoteKey(r), refs: relativeReferences(r) }).toEqual({ resource: remoteKey(r), refs: expected });
        unresolved.push(...expected.filter((x) => x.startsWith('(not pulled')));
      }
    }
    expect(unresolved).toEqual([]);
    const observations = await searchAll(lFhir, 'Observation', { subject: `Patient/${s.lPatient}`, identifier: `${rBase}|` });
    expect(observations.length).toBe(remote.get('Observation')?.length);
  });

  it("shows the AI's RiskAssessment on L for the pulled patient, and a pending recommendation for its clinician", async () => {
    const ra = await waitFor(
      "the AI's CAD RiskAssessment on L",
      async () => (await searchAll(lFhir, 'RiskAssessment', { subject: `Patient/${s.lPatient}` })).find((r) => r.meta?.source === AI_SOURCE && JSON.stringify(r).includes(CAD_MODEL)),
      120_000,
      500,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${L.logs()}`);
    });
    expect(ra.subject.reference).toBe(`Patient/${s.lPatient}`);
    // A probability, made from the pulled Observations (not imputed for want of them).
    const notes = (ra.note as Json[] | undefined)?.map((n) => n.text as string) ?? [];
    expect({ probability: typeof ra.prediction?.[0]?.probabilityDecimal, notes }).toEqual({ probability: 'number', notes: expect.not.arrayContaining([expect.stringMatching(/Too little is known/)]) });
    expect(ra.prediction[0].probabilityDecimal).toBeGreaterThanOrEqual(0.5);

    // The clinician: L's copy of the Synthea practitioner, who took part in the patient's encounters.
    const [practitioner] = await searchAll(lFhir, 'Practitioner', { identifier: `${rBase}|Practitioner/${s.rPractitioner}` });
    expect(practitioner).toBeDefined();
    const client = await request(L.baseUrl).post('/api/clients').set('Authorization', `Bearer ${L.token}`).send({ role: 'clinician', practitioner: `Practitioner/${practitioner.id as string}` });
    expectStatus(client, 201);
    s.clinicianToken = await tokenFor(L.baseUrl, client.body.client_id, client.body.client_secret);

    const item = await waitFor(
      'a pending CAD recommendation on L',
      async () => {
        const res = expectStatus(await request(L.baseUrl).get('/api/recommendations').query({ patient: `Patient/${s.lPatient}`, status: 'pending' }).set('Authorization', `Bearer ${s.clinicianToken}`), 200);
        return (res.body.items as Json[]).find((i) => i.model?.id === CAD_MODEL);
      },
      60_000,
      500,
    );
    expect(item).toMatchObject({ patient: `Patient/${s.lPatient}`, status: 'pending' });
    s.riskAssessment = (await lFhir.read({ resourceType: 'RiskAssessment', id: (item.riskAssessment as string).split('/')[1] })) as Json;
    s.task = (await lFhir.read({ resourceType: 'Task', id: item.id as string })) as Json;
    expect(s.task.for.reference).toBe(`Patient/${s.lPatient}`);
  });

  it("pushes the approved recommendation's Task and its RiskAssessment to R, once each, about R's own patient", async () => {
    if (!s.task) throw new Error('no pending recommendation to approve (see the previous test)');
    const approve = await request(L.baseUrl)
      .post(`/api/recommendations/${s.task.id as string}/approve`)
      .set('Authorization', `Bearer ${s.clinicianToken}`)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ reason: 'Consistent with the angiogram' }));
    expect(expectStatus(approve, 200).body).toMatchObject({ status: 'approved', taskStatus: 'accepted' });

    const onR = async (type: string, id: string) => searchAll(rFhir, type, { identifier: `${OUR_SYSTEM}|${type}/${id}` });
    const [task, ra] = await waitFor(
      'the Task and the RiskAssessment on R',
      async () => {
        const found = [await onR('Task', s.task.id), await onR('RiskAssessment', s.riskAssessment.id)];
        return found.every((f) => f.length > 0) ? found : undefined;
      },
      120_000,
      500,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\nconnection: ${JSON.stringify((await conns.get(s.connection)).body)}\n${L.logs()}`);
    });
    expect(task).toHaveLength(1);
    expect(ra).toHaveLength(1);
    expect(task[0]).toMatchObject({ status: 'accepted', for: { reference: `Patient/${s.rPatient}` } });
    expect(ra[0].subject).toEqual({ reference: `Patient/${s.rPatient}` });
    // Nothing on R points at L's ids.
    for (const r of [task[0], ra[0]]) expect(relativeReferences(r).filter((ref) => ref.endsWith(`/${s.lPatient}`))).toEqual([]);

    // Observable on L: resources out, no dead letters.
    const view = await waitFor('resourcesOut on the connection', async () => {
      const v = expectStatus(await conns.get(s.connection), 200).body;
      return v.counts.resourcesOut >= 2 ? v : undefined;
    });
    expect(view.deadLetters).toBe(0);
    const dead = expectStatus(await conns.deadLetters(s.connection), 200).body;
    expect(JSON.stringify(dead)).not.toContain(s.task.id);

    // A second look later still finds one of each (a retried push creates nothing twice).
    await new Promise((r) => setTimeout(r, 3000));
    expect(await onR('Task', s.task.id)).toHaveLength(1);
    expect(await onR('RiskAssessment', s.riskAssessment.id)).toHaveLength(1);
  });

  it('pushes the RiskAssessment with its Provenance, tagged with our identity, targeting R\'s copy', async () => {
    if (!s.riskAssessment) throw new Error('no RiskAssessment of a recommendation (see the previous tests)');
    const [provenance] = await searchAll(lFhir, 'Provenance', { target: `RiskAssessment/${s.riskAssessment.id as string}` });
    expect(provenance).toBeDefined();
    const [raOnR] = await searchAll(rFhir, 'RiskAssessment', { identifier: `${OUR_SYSTEM}|RiskAssessment/${s.riskAssessment.id as string}` });
    const onR = await waitFor('the Provenance on R', async () => {
      const found = await searchAll(rFhir, 'Provenance', { _tag: `${OUR_SYSTEM}|Provenance/${provenance.id as string}` });
      return found.length ? found : undefined;
    }, 60_000, 500);
    expect(onR).toHaveLength(1);
    expect(onR[0].target).toEqual([{ reference: `RiskAssessment/${raOnR.id as string}` }]);
  });
});

describeWithSynthea('a worker killed in the middle of a many-page sync', () => {
  /** Polls the run (every 20 ms) until `ready` says so; fails at once if the run ends first. */
  async function catchRunning(connection: string, runId: string, ready: (run: Json) => boolean, timeoutMs: number): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await conns.runNow(connection, runId);
      if (ready(run)) return run;
      if (run.status === 'succeeded' || run.status === 'failed') throw new Error(`the run finished before the worker could be killed: ${JSON.stringify(run)}\n${L.logs()}`);
      if (Date.now() > deadline) throw new Error(`the run was not running with resources in after ${timeoutMs} ms: ${JSON.stringify(run)}\n${L.logs()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('finishes a sync whose worker was killed in the middle, with every remote resource on L exactly once', async () => {
    // A fresh change set on R: three more Synthea patients, hundreds of resources, dozens of pages of ten.
    let changed = 0;
    for (const i of [1, 2, 3]) changed += (await loadIntoR(i)).length;
    expect(changed).toBeGreaterThan(30 * PAGE_SIZE);

    const runId = await conns.startSync(s.connection);
    const seen = await catchRunning(s.connection, runId, (run) => run.status === 'running' && run.resourcesIn > 0, 180_000);
    const { killed } = await L.replaceWorker();
    expect(killed.signal).toBe('SIGKILL');
    const atKill = await conns.runNow(s.connection, runId);
    expect(atKill.status).toBe('running');
    expect(atKill.resourcesIn).toBeGreaterThanOrEqual(seen.resourcesIn);
    expect(atKill.resourcesIn).toBeLessThan(changed);

    const run = await conns.finished(s.connection, runId, 400_000, () => L.logs());
    await expectSucceeded(s.connection, run);

    // Every remote resource (but what L itself pushed there) is on L exactly once.
    const types = await remoteTypes();
    const remote = await remoteResources(types);
    const pulled = await pulledResources(types);
    const expected = [...remote.values()].flat().filter((r) => !isEcho(r)).map((r) => `${r.resourceType as string}/${r.id as string}`).sort();
    const onL = [...pulled.values()].flat().map((r) => remoteKey(r) as string).sort();
    const twice = onL.filter((k, i) => onL[i - 1] === k);
    expect(twice).toEqual([]);
    const onLSet = new Set(onL);
    expect(expected.filter((k) => !onLSet.has(k))).toEqual([]);
    // ...and one by one, as a search by identifier (a sample across the types).
    for (const key of expected.filter((k, i) => i % 20 === 0 && identifierShape(k.split('/')[0]) !== 'none')) {
      expect({ key, hits: (await searchAll(lFhir, key.split('/')[0], { identifier: `${rBase}|${key}` })).length }).toEqual({ key, hits: 1 });
    }
    // The connection's running total is the sum of its runs'.
    const view = expectStatus(await conns.get(s.connection), 200).body;
    const runs = await Promise.all((view.recentRuns as Json[]).map((r) => conns.runNow(s.connection, String(r.id))));
    expect(view.counts.resourcesIn).toBe(runs.reduce((n, r) => n + (r.resourcesIn as number), 0));
  });

  it('changes nothing on a second sync when nothing changed remotely', async () => {
    const types = await remoteTypes();
    const snapshot = async () =>
      [...(await pulledResources(types)).values()]
        .flat()
        .map((r) => `${r.resourceType as string}/${r.id as string}/_history/${r.meta.versionId as string}`)
        .sort();
    const before = await snapshot();
    const runId = await conns.startSync(s.connection);
    const run = await conns.finished(s.connection, runId, 300_000, () => L.logs());
    await expectSucceeded(s.connection, run);
    // Whatever was looked at again (the last of each type, _lastUpdated=ge) was unchanged: nothing stored.
    expect(run.resourcesIn).toBe(0);
    expect(run.unchanged).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(before);
  });

  it('does not pull back, as new resources, what it pushed to R', async () => {
    const types = await remoteTypes();
    const echoesOnR = new Set([...(await remoteResources(types)).values()].flat().filter(isEcho).map((r) => `${r.resourceType as string}/${r.id as string}`));
    const pulledBack = [...(await pulledResources(types)).values()]
      .flat()
      .filter((r) => echoesOnR.has(remoteKey(r) as string))
      .map((r) => `${r.resourceType as string}/${r.id as string} (${r.meta?.source as string})`);
    expect(pulledBack).toEqual([]);
    // ...nor pushes such a copy to R again (which the next pull would bring back, and so on).
    const tasksOnR = await searchAll(rFhir, 'Task', { code: RECOMMENDATION_CODE });
    expect(tasksOnR.length).toBeLessThanOrEqual(s.task ? 1 : 0);
  });

  it("deletes, at the next sync, L's copy of what R deleted (once); a resource of L's that R held stays", async () => {
    const sync = async () => {
      const runId = await conns.startSync(s.connection);
      const run = await conns.finished(s.connection, runId, 300_000, () => L.logs());
      await expectSucceeded(s.connection, run);
      return run;
    };
    // An Observation of R's patient, pulled to L.
    const [observation] = (await searchAll(rFhir, 'Observation', { subject: `Patient/${s.rPatient}`, _count: '1' })).slice(0, 1);
    const copies = await searchAll(lFhir, 'Observation', { identifier: `${rBase}|Observation/${observation.id as string}` });
    expect(copies).toHaveLength(1);
    expectStatus(await request(R.baseUrl).delete(`/fhir/Observation/${observation.id as string}`).set('Authorization', `Bearer ${R.token}`), 200);
    // L's RiskAssessment, which L pushed to R: R deletes its copy; L's own stays.
    const echoes = (await searchAll(rFhir, 'RiskAssessment', {})).filter(isEcho);
    for (const echo of echoes) expectStatus(await request(R.baseUrl).delete(`/fhir/RiskAssessment/${echo.id as string}`).set('Authorization', `Bearer ${R.token}`), 200);

    const deletedAt = Date.now();
    const run = await sync();
    expect(run.deleted).toBe(1);
    // The look was recorded: the next one starts near the deletion (a minute before the latest change seen), not from the start.
    const db = await rawClient(L.db.url);
    try {
      const { rows } = await db.query<{ at: Date | null }>(
        "SELECT deleted_high_water AS at FROM exchange_sync_cursors WHERE connection_id = $1 AND resource_type = 'Observation'",
        [s.connection],
      );
      expect(rows[0]?.at?.getTime()).toBeGreaterThan(deletedAt - 120_000);
    } finally {
      await db.end();
    }
    const gone = await request(L.baseUrl).get(`/fhir/Observation/${copies[0].id as string}`).set('Authorization', `Bearer ${L.token}`);
    expect(gone.status).toBe(410);
    expect(gone.body.resourceType).toBe('OperationOutcome');
    if (s.riskAssessment) expectStatus(await request(L.baseUrl).get(`/fhir/RiskAssessment/${s.riskAssessment.id as string}`).set('Authorization', `Bearer ${L.token}`), 200);
    // Seen once: the next sync deletes nothing more.
    expect((await sync()).deleted).toBe(0);
  });
});

describe('remotes that fail: retried, then reported, never half-stored', () => {
  const remotes: MisbehavingRemote[] = [];
  let invalidRemote: { remote: MisbehavingRemote; connection: string; patient: string } | undefined;
  afterAll(async () => {
    for (const r of remotes) await r.close();
  });

  async function syncAgainst(mode: '500' | 'hang' | 'invalid'): Promise<{ remote: MisbehavingRemote; connection: string; run: Json }> {
    const remote = await MisbehavingRemote.start(mode);
    remotes.push(remote);
    const connection = await conns.created({ name: `Broken remote (${mode})`, baseUrl: remote.baseUrl, auth: { type: 'none' } });
    const runId = await conns.startSync(connection);
    const run = await conns.finished(connection, runId, 400_000, () => L.logs());
    return { remote, connection, run };
  }

  async function nothingStoredFrom(remote: MisbehavingRemote, types: string[]): Promise<void> {
    for (const t of types) expect({ t, n: await total(lFhir, t, { identifier: `${remote.baseUrl}|` }) }).toEqual({ t, n: 0 });
  }

  async function expectReported(connection: string, pattern: RegExp): Promise<Json> {
    const view = expectStatus(await conns.get(connection), 200).body;
    expect(view.lastSync).toMatchObject({ status: 'failed' });
    expect(view.counts.failures).toBeGreaterThan(0);
    const failure = (view.recentFailures as Json[]).find((f) => f.direction === 'pull');
    expect(failure).toBeDefined();
    expect(failure?.outcome.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(failure?.outcome)).toMatch(pattern);
    return view;
  }

  const itWithL = hasSynthea() ? it : it.skip;

  itWithL('a remote answering 500: the run is retried, then failed and reported with the OperationOutcome', async () => {
    const { remote, connection, run } = await syncAgainst('500');
    expect(run.status).toBe('failed');
    // The same request was tried more than once.
    const repeated = remote.requests.filter((r, i, all) => all.indexOf(r) !== i);
    expect(repeated.length).toBeGreaterThan(0);
    await expectReported(connection, /500|broken/);
    await nothingStoredFrom(remote, ['Patient', 'Observation']);
  });

  itWithL('a remote that never answers: the run times out, is retried, then failed and reported', async () => {
    const { remote, connection, run } = await syncAgainst('hang');
    expect(run.status).toBe('failed');
    expect(remote.requests.length).toBeGreaterThan(1);
    await expectReported(connection, /timeout|time|answer/i);
    await nothingStoredFrom(remote, ['Patient', 'Observation']);
  });

  itWithL('a remote sending an invalid resource: it is reported and not stored, and nothing of it half-stored', async () => {
    const { remote, connection, run } = await syncAgainst('invalid');
    expect(run.failed).toBeGreaterThan(0);
    const view = expectStatus(await conns.get(connection), 200).body;
    const failure = (view.recentFailures as Json[]).find((f) => f.direction === 'pull' && JSON.stringify(f).includes('invalid-1'));
    expect(failure).toBeDefined();
    expect(failure?.outcome.resourceType).toBe('OperationOutcome');
    expect(await total(lFhir, 'Observation', { identifier: `${remote.baseUrl}|` })).toBe(0);
    // The valid Patient alone is stored, once.
    const patients = await searchAll(lFhir, 'Patient', { identifier: `${remote.baseUrl}|Patient/valid-1` });
    expect(patients.map((p) => p.name?.[0]?.family)).toEqual([INVALID_REMOTE_RESOURCES.Patient[0].name[0].family]);
    invalidRemote = { remote, connection, patient: patients[0].id as string };
  });

  itWithL("a push to a remote that answers 500: retried, dead-lettered with its OperationOutcome, replayed once the remote is back, sent once", async () => {
    if (!invalidRemote) throw new Error('needs the patient pulled from the remote of the previous test');
    const { remote, connection, patient } = invalidRemote;
    remote.mode = '500';
    // A CAD profile and diagnosis written on L for the patient pulled from that remote (its home EHR): the AI's RiskAssessment goes there.
    const lApi = { created: async (r: Json) => (await lFhir.create({ resourceType: r.resourceType, body: r as never })) as Json } as unknown as FhirApi;
    await highRiskCadObservations(lApi, patient);
    await cadCondition(lApi, patient);
    const dead = await waitFor(
      'the RiskAssessment push in the dead-letter list',
      async () => ((expectStatus(await conns.deadLetters(connection), 200).body.items ?? []) as Json[]).find((i) => String(i.resource).startsWith('RiskAssessment/')),
      120_000,
      500,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}; pushes: ${JSON.stringify((await request(L.baseUrl).get(`/api/connections/${connection}/pushes`).set('Authorization', `Bearer ${L.token}`)).body)}\n${L.logs()}`);
    });
    expect(dead).toMatchObject({ status: 'dead', attempts: 3, patient: `Patient/${patient}` });
    expect(dead.lastError?.resourceType).toBe('OperationOutcome');
    expect(remote.requests.filter((r) => /^POST \/fhir\/?$/.test(r)).length).toBeGreaterThanOrEqual(3);
    expect(remote.transactions).toEqual([]);

    remote.mode = 'invalid'; // back: accepts transactions
    const replay = await request(L.baseUrl).post(`/api/connections/${connection}/dead-letters/${dead.id as string}/replay`).set('Authorization', `Bearer ${L.token}`);
    expectStatus(replay, 202);
    await waitFor('the replayed push to be sent', async () => {
      const res = expectStatus(await request(L.baseUrl).get(`/api/connections/${connection}/pushes`).query({ status: 'sent' }).set('Authorization', `Bearer ${L.token}`), 200);
      return (res.body.items as Json[]).some((i) => i.id === dead.id);
    }, 60_000, 500);
    expect((expectStatus(await conns.deadLetters(connection), 200).body.items as Json[]).map((i) => i.id)).not.toContain(dead.id);
    // One transaction, with the RiskAssessment as a conditional create on our identifier, about the remote's own patient.
    const raId = String(dead.resource).split('/')[1];
    const sent = remote.transactions.flatMap((t) => t.entry as Json[]).filter((e) => e.resource?.resourceType === 'RiskAssessment');
    expect(sent).toHaveLength(1);
    expect(sent[0].request).toMatchObject({ method: 'POST', url: 'RiskAssessment' });
    expect(decodeURIComponent(sent[0].request.ifNoneExist as string)).toBe(`identifier=${OUR_SYSTEM}|RiskAssessment/${raId}`);
    expect(sent[0].resource.subject).toEqual({ reference: 'Patient/valid-1' });
  });
});
