import type { Client } from 'pg';
import request from 'supertest';
import { clientToken, narrowedTokens } from '../helpers/ai-recommendations';
import { FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { fhirKitClient, loadFhirKitClient } from '../helpers/fhir-kit';
import { patient, practitioner } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { startHookReceiver, type HookReceiver, type ReceivedRequest } from '../helpers/hook-receiver';

/**
 * Emergency alerts end to end: a raised alert (Flag urn:fhir-ai-server:alert#emergency) reaches a
 * clinician's rest-hook Subscription; it is acknowledged and resolved through /api/alerts (and
 * refused cleanly when the transition is illegal, a decision is repeated, or the role is wrong,
 * storing nothing); the emergency_alerts projection carries status, who/when and response times;
 * GET /api/alerts reports p50/p95 response times, checked against an independent computation.
 */
const ALERT = { system: 'urn:fhir-ai-server:alert', code: 'emergency' };
const ACK_URL = 'https://fhir-ai-server.dev/StructureDefinition/alert-acknowledgement';
const RES_URL = 'https://fhir-ai-server.dev/StructureDefinition/alert-resolution';
const GEO_URL = 'http://hl7.org/fhir/StructureDefinition/geolocation';

let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let pg: Client;
let hook: HookReceiver;
let hookBase: string;
let received: ReceivedRequest[] = [];
const ids = {} as Record<'p' | 'dr', string>;
const tokens = {} as Record<'dr' | 'ehr' | 'scientist', string>;

function alert(o: Json = {}): Json {
  return {
    resourceType: 'Flag',
    status: 'active',
    code: { coding: [ALERT], text: 'Fall detected' },
    subject: { reference: `Patient/${ids.p}` },
    extension: [{ url: GEO_URL, extension: [{ url: 'latitude', valueDecimal: 52.3702 }, { url: 'longitude', valueDecimal: 4.8952 }] }],
    ...o,
  };
}

const decisionExt = (url: string, by: string, at: string): Json => ({ url, extension: [{ url: 'by', valueReference: { reference: by } }, { url: 'at', valueDateTime: at }] });

function as(token: string) {
  const server = () => t.app.getHttpServer();
  return {
    decide: (id: string, what: 'acknowledge' | 'resolve') => request(server()).post(`/api/alerts/${id}/${what}`).set('Authorization', `Bearer ${token}`),
    list: (q: Record<string, string> = {}) => request(server()).get('/api/alerts').query(q).set('Authorization', `Bearer ${token}`),
  };
}

function expectOutcome(res: request.Response, status: number, text: RegExp): void {
  expect({ status: res.status, body: res.body?.resourceType }).toEqual({ status, body: 'OperationOutcome' });
  expect(outcomeText(res.body)).toMatch(text);
}

async function row(id: string): Promise<Json> {
  const { rows } = await pg.query('SELECT * FROM emergency_alerts WHERE id = $1', [id]);
  return rows[0];
}

async function version(id: string): Promise<string> {
  return (expectStatus(await api.read('Flag', id), 200).body as Json).meta.versionId as string;
}

/** Nearest rank, written again here so that the server's figures are checked, not echoed. */
function nearestRank(values: number[], p: number): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.ceil((p / 100) * s.length) - 1];
}

beforeAll(async () => {
  t = await startTestApp({ SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: 'true' });
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  hook = await startHookReceiver();
  hookBase = hook.base;
  received = hook.received;
  ids.p = (await api.created(patient())).id;
  ids.dr = (await api.created(practitioner({ family: 'Responder' }))).id;
  tokens.dr = (await clientToken(t, { role: 'clinician', practitioner: `Practitioner/${ids.dr}` })).token;
  tokens.ehr = (await clientToken(t, { role: 'ehr-system' })).token;
  tokens.scientist = (await clientToken(t, { role: 'data-scientist' })).token;
}, 90000);

afterAll(async () => {
  await hook?.close();
  await pg?.end();
  await worker?.close();
  await t?.close();
});

describe('raising an alert', () => {
  it("reaches the clinician's rest-hook Subscription, and is projected as raised with its geolocation", async () => {
    await loadFhirKitClient();
    const client = fhirKitClient(t.baseUrl, t.token);
    const sub = (await client.create({
      resourceType: 'Subscription',
      body: {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'Emergency alerts for the responding clinician',
        // R4 Flag has no `code` search parameter: alerts carry the server's meta tag instead.
        criteria: 'Flag?_tag=urn:fhir-ai-server:alert|emergency',
        channel: { type: 'rest-hook', endpoint: `${hookBase}/clinician`, payload: 'application/fhir+json' },
      } as { resourceType: 'Subscription' },
    })) as Json;
    expect(sub.status).toBe('active');

    const other = await api.created({ resourceType: 'Flag', status: 'active', code: { text: 'Allergic to latex' }, subject: { reference: `Patient/${ids.p}` } });
    const raised = (await client.create({ resourceType: 'Flag', body: alert() as { resourceType: 'Flag' } })) as Json;
    expect(raised.period.start).toBeDefined(); // stamped when raised: response times are measured from it

    const [put] = await waitFor('the alert at the rest-hook', async () => {
      const got = received.filter((r) => r.url === `/clinician/Flag/${raised.id as string}`);
      return got.length ? got : undefined;
    }, 20000);
    expect(put.method).toBe('PUT');
    expect(JSON.parse(put.body)).toMatchObject({ resourceType: 'Flag', id: raised.id, status: 'active', code: { coding: [ALERT] }, meta: { tag: [expect.objectContaining(ALERT)] } });
    await new Promise((r) => setTimeout(r, 1500));
    expect(received.filter((r) => r.url.includes(other.id as string))).toHaveLength(0);

    expect(await row(raised.id)).toMatchObject({
      patient_id: ids.p,
      alert_type: 'Fall detected',
      response_status: 'raised',
      geolocation: { latitude: 52.3702, longitude: 4.8952 },
      acknowledged_at: null,
      resolved_at: null,
      seconds_to_acknowledge: null,
    });
    expect(new Date((await row(raised.id)).created_at as string).getTime()).toBe(Date.parse(raised.period.start as string));
  }, 60000);
});

describe('POST /api/alerts/{id}/acknowledge and /resolve', () => {
  it('acknowledges then resolves, with who and when in the Flag and the row, and response times', async () => {
    const raised = await api.created(alert({ period: { start: new Date(Date.now() - 90_000).toISOString() } }));
    const ack = expectStatus(await as(tokens.dr).decide(raised.id, 'acknowledge'), 200).body as Json;
    expect(ack).toMatchObject({ id: raised.id, status: 'acknowledged', acknowledged_by: `Practitioner/${ids.dr}`, resolved_at: null });

    const flag = expectStatus(await api.read('Flag', raised.id), 200).body as Json;
    expect(flag.status).toBe('active');
    const ackExt = (flag.extension as Json[]).find((e) => e.url === ACK_URL) as Json;
    expect(ackExt.extension).toEqual(expect.arrayContaining([{ url: 'by', valueReference: { reference: `Practitioner/${ids.dr}` } }]));
    const ackAt = (ackExt.extension as Json[]).find((e) => e.url === 'at')!.valueDateTime as string;
    const expectedAck = (Date.parse(ackAt) - Date.parse(raised.period.start)) / 1000;
    expect(expectedAck).toBeGreaterThanOrEqual(90);
    const r1 = await row(raised.id);
    expect(r1).toMatchObject({ response_status: 'acknowledged', acknowledged_by: `Practitioner/${ids.dr}` });
    expect(Number(r1.seconds_to_acknowledge)).toBeCloseTo(expectedAck, 3);

    const res = expectStatus(await as(t.token).decide(raised.id, 'resolve'), 200).body as Json;
    expect(res).toMatchObject({ status: 'resolved', resolved_by: 'client test-admin' });
    const resolved = expectStatus(await api.read('Flag', raised.id), 200).body as Json;
    expect(resolved.status).toBe('inactive');
    expect(resolved.period.end).toBeDefined();
    expect((resolved.extension as Json[]).map((e) => e.url)).toEqual(expect.arrayContaining([ACK_URL, RES_URL, GEO_URL]));
    const r2 = await row(raised.id);
    expect(r2.response_status).toBe('resolved');
    expect(new Date(r2.resolved_at as string).toISOString()).toBe(new Date(resolved.period.end as string).toISOString());
    expect(Number(r2.seconds_to_resolve)).toBeCloseTo((Date.parse(resolved.period.end) - Date.parse(raised.period.start)) / 1000, 3);
    expect(Number(r2.seconds_to_acknowledge)).toBeCloseTo(expectedAck, 3); // the acknowledgement stays
  });

  it('resolving an alert no one acknowledged acknowledges it at the same moment', async () => {
    const raised = await api.created(alert());
    const res = expectStatus(await as(tokens.dr).decide(raised.id, 'resolve'), 200).body as Json;
    expect(res.status).toBe('resolved');
    expect(res.acknowledged_at).toBe(res.resolved_at);
    expect(res.acknowledged_by).toBe(`Practitioner/${ids.dr}`);
  });

  it('refuses a second acknowledgement, resolving twice and acknowledging a resolved alert with 409, storing nothing', async () => {
    const raised = await api.created(alert());
    expectStatus(await as(tokens.dr).decide(raised.id, 'acknowledge'), 200);
    const v = await version(raised.id);
    expectOutcome(await as(tokens.dr).decide(raised.id, 'acknowledge'), 409, /already acknowledged by Practitioner\//);
    expect(await version(raised.id)).toBe(v);

    expectStatus(await as(tokens.dr).decide(raised.id, 'resolve'), 200);
    const v2 = await version(raised.id);
    const before = await row(raised.id);
    expectOutcome(await as(tokens.dr).decide(raised.id, 'resolve'), 409, /already resolved/);
    expectOutcome(await as(t.token).decide(raised.id, 'acknowledge'), 409, /already resolved/);
    expect(await version(raised.id)).toBe(v2);
    expect(await row(raised.id)).toEqual(before);
  });

  it('refuses the wrong roles (403), an unknown alert and a Flag that is not an alert (404)', async () => {
    const raised = await api.created(alert());
    expectOutcome(await as(tokens.ehr).decide(raised.id, 'acknowledge'), 403, /clinicians and administrators only/);
    expectOutcome(await as(tokens.scientist).decide(raised.id, 'resolve'), 403, /clinicians and administrators only/);
    expectOutcome(await as(tokens.scientist).list(), 403, /clinicians and administrators only/);
    expectOutcome(await as(tokens.dr).decide('no-such-alert', 'acknowledge'), 404, /No emergency alert/);
    const plain = await api.created({ resourceType: 'Flag', status: 'active', code: { text: 'Fall risk' }, subject: { reference: `Patient/${ids.p}` } });
    expectOutcome(await as(tokens.dr).decide(plain.id, 'acknowledge'), 404, /No emergency alert/);
    expect(await version(raised.id)).toBe('1');
    expect((await row(raised.id)).response_status).toBe('raised');
  });

  it("refuses tokens whose scopes do not grant the Flag interactions (403), as PUT /fhir/Flag does, changing nothing", async () => {
    const [patientOnly, flagRead, flagUpdate] = await narrowedTokens(t, { role: 'clinician', practitioner: `Practitioner/${ids.dr}` }, ['user/Patient.r', 'user/Flag.rs', 'user/Flag.rus']);
    const raised = await api.created(alert());
    const before = await row(raised.id);

    expectOutcome(await as(patientOnly).list(), 403, /do not grant search on Flag/);
    expectOutcome(await as(patientOnly).decide(raised.id, 'acknowledge'), 403, /do not grant read on Flag/);
    expectOutcome(await as(patientOnly).decide(raised.id, 'resolve'), 403, /do not grant read on Flag/);
    // Reading is not deciding: a read-only token lists but does not acknowledge.
    expect(expectStatus(await as(flagRead).list(), 200).body.items.map((a: Json) => a.id)).toContain(raised.id);
    expectOutcome(await as(flagRead).decide(raised.id, 'acknowledge'), 403, /do not grant update on Flag/);
    const put = await request(t.app.getHttpServer()).put(`/fhir/Flag/${raised.id}`).set('Authorization', `Bearer ${flagRead}`).send({ ...alert(), id: raised.id });
    expectOutcome(put, 403, /do not grant update on Flag/);
    expect(await version(raised.id)).toBe('1');
    expect(await row(raised.id)).toEqual(before);

    expect(expectStatus(await as(flagUpdate).decide(raised.id, 'acknowledge'), 200).body).toMatchObject({ status: 'acknowledged', acknowledged_by: `Practitioner/${ids.dr}` });
  });

  it('of two acknowledgements at once, exactly one wins', async () => {
    const raised = await api.created(alert());
    const results = await Promise.all([as(tokens.dr).decide(raised.id, 'acknowledge'), as(t.token).decide(raised.id, 'acknowledge')]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(results.find((r) => r.status === 409)!.body.resourceType).toBe('OperationOutcome');
    expect(await version(raised.id)).toBe('2');
  });
});

describe('the lifecycle on the FHIR write path', () => {
  it('refuses reopening a resolved alert and changing an acknowledgement with 409 (PUT), storing nothing', async () => {
    const raised = await api.created(alert());
    expectStatus(await as(tokens.dr).decide(raised.id, 'acknowledge'), 200);
    const acked = expectStatus(await api.read('Flag', raised.id), 200).body as Json;
    const changed = { ...acked, extension: [...(acked.extension as Json[]).filter((e) => e.url !== ACK_URL), decisionExt(ACK_URL, 'Practitioner/someone-else', new Date().toISOString())] };
    const r1 = await api.update(changed);
    expect(r1.status).toBe(409);
    expect(outcomeText(r1.body)).toMatch(/already acknowledged/);
    expectStatus(await as(tokens.dr).decide(raised.id, 'resolve'), 200);
    const resolved = expectStatus(await api.read('Flag', raised.id), 200).body as Json;
    const r2 = await api.update({ ...resolved, status: 'active' });
    expect(r2.status).toBe(409);
    expect(outcomeText(r2.body)).toMatch(/cannot be reopened/);
    expect(await version(raised.id)).toBe('3');
    expect((await row(raised.id)).response_status).toBe('resolved');
  });

  it('refuses an acknowledgement before the alert was raised (400)', async () => {
    const res = await api.create(alert({ period: { start: '2026-01-01T10:00:00Z' }, extension: [decisionExt(ACK_URL, `Practitioner/${ids.dr}`, '2026-01-01T09:00:00Z')] }));
    expect(res.status).toBe(400);
    expect(outcomeText(res.body)).toMatch(/before it was raised/);
  });
});

describe('what an alert may say', () => {
  const geo = (latitude: number, longitude: number): Json[] => [{ url: GEO_URL, extension: [{ url: 'latitude', valueDecimal: latitude }, { url: 'longitude', valueDecimal: longitude }] }];
  const alertRows = async () => Number((await pg.query('SELECT count(*) AS n FROM emergency_alerts')).rows[0].n);

  it('refuses a period.start more than 5 minutes ahead (400), on create and update, storing nothing', async () => {
    const before = await alertRows();
    const inEightDays = new Date(Date.now() + 8 * 86_400_000).toISOString();
    const res = await api.create(alert({ period: { start: inEightDays } }));
    expectOutcome(res, 400, /period.start .* is in the future/);
    expect(res.body.issue[0].expression).toEqual(['Flag.period.start']);
    expect(await alertRows()).toBe(before);
    // ahead within the clock-skew tolerance: raised now, open at once and acknowledgeable
    const sent = Date.now();
    const skewed = await api.created(alert({ period: { start: new Date(sent + 60_000).toISOString() } }));
    expect(Date.parse(skewed.period.start)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(skewed.period.start)).toBeGreaterThanOrEqual(sent - 1000);
    const open = expectStatus(await as(tokens.dr).list({ status: 'open' }), 200).body as Json;
    expect(JSON.stringify(open.items)).toContain(skewed.id);
    const moved = await api.update({ ...skewed, period: { start: inEightDays } });
    expect(moved.status).toBe(400);
    expect(await version(skewed.id)).toBe('1');
    expectStatus(await as(tokens.dr).decide(skewed.id, 'acknowledge'), 200);
  });

  it('refuses a geolocation off the globe (400) and keeps valid edges', async () => {
    const before = await alertRows();
    for (const [lat, lon] of [
      [200, 4.9],
      [-90.5, 4.9],
      [52.4, 180.01],
      [52.4, -181],
    ]) {
      const res = await api.create(alert({ extension: geo(lat, lon) }));
      expectOutcome(res, 400, lat > 90 || lat < -90 ? /latitude .* not between -90 and 90/ : /longitude .* not between -180 and 180/);
    }
    expect(await alertRows()).toBe(before);
    const edge = await api.created(alert({ extension: geo(-90, 180) }));
    expect((await row(edge.id)).geolocation).toEqual({ latitude: -90, longitude: 180 });
  });
});

describe('GET /api/alerts', () => {
  it('reports p50/p95 time to acknowledge and resolve over the window, as computed independently', async () => {
    // Alerts recorded with their history (raised, acknowledged and resolved at known times) in 2025.
    const base = Date.parse('2025-03-01T08:00:00Z');
    const iso = (ms: number) => new Date(ms).toISOString();
    const plan = [
      { ack: 30, res: 600 },
      { ack: 45, res: 900 },
      { ack: 60, res: null },
      { ack: 120, res: 1800 },
      { ack: 15, res: 300 },
      { ack: null, res: null },
      { ack: 300, res: 3600 },
    ];
    for (const [i, p] of plan.entries()) {
      const start = base + i * 3600_000;
      const ext: Json[] = [];
      if (p.ack !== null) ext.push(decisionExt(ACK_URL, `Practitioner/${ids.dr}`, iso(start + p.ack * 1000)));
      if (p.res !== null) ext.push(decisionExt(RES_URL, `Practitioner/${ids.dr}`, iso(start + p.res * 1000)));
      await api.created(alert({ status: p.res !== null ? 'inactive' : 'active', period: { start: iso(start), ...(p.res !== null ? { end: iso(start + p.res * 1000) } : {}) }, extension: ext.length ? ext : undefined }));
    }
    // One outside the window must not count.
    await api.created(alert({ period: { start: '2025-02-01T00:00:00Z' }, extension: [decisionExt(ACK_URL, `Practitioner/${ids.dr}`, '2025-02-01T05:00:00Z')] }));

    const body = expectStatus(await as(tokens.dr).list({ from: '2025-03-01T00:00:00Z', to: '2025-03-02T00:00:00Z' }), 200).body as Json;
    const acks = plan.map((p) => p.ack).filter((x): x is number => x !== null);
    const ress = plan.map((p) => p.res).filter((x): x is number => x !== null);
    expect(body.counts).toEqual({ raised: 1, acknowledged: 1, resolved: 5 });
    expect(body.response_times.time_to_acknowledge).toEqual({ count: acks.length, p50: nearestRank(acks, 50), p95: nearestRank(acks, 95) });
    expect(body.response_times.time_to_resolve).toEqual({ count: ress.length, p50: nearestRank(ress, 50), p95: nearestRank(ress, 95) });
    expect(body.response_times.time_to_acknowledge).toMatchObject({ p50: 45, p95: 300 }); // 15,30,45,60,120,300: ranks 3 and 6
    expect(body.items).toHaveLength(7);

    const open = expectStatus(await as(t.token).list({ status: 'open', from: '2025-03-01T00:00:00Z', to: '2025-03-02T00:00:00Z' }), 200).body as Json;
    expect(open.items.map((i: Json) => i.status).sort()).toEqual(['acknowledged', 'raised']);
    const resolved = expectStatus(await as(t.token).list({ status: 'resolved', from: '2025-03-01T00:00:00Z', to: '2025-03-02T00:00:00Z' }), 200).body as Json;
    expect(resolved.items).toHaveLength(5);
    expect(resolved.items.every((i: Json) => i.seconds_to_resolve !== null && i.resolved_by === `Practitioner/${ids.dr}`)).toBe(true);
  });

  it('refuses bad filters with 400', async () => {
    expectOutcome(await as(tokens.dr).list({ status: 'closed' }), 400, /status must be one of/);
    expectOutcome(await as(tokens.dr).list({ from: 'yesterday' }), 400, /from must be/);
    expectOutcome(await as(tokens.dr).list({ from: '2025-03-02', to: '2025-03-01' }), 400, /from must not be after to/);
  });
});
