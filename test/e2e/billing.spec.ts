import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { fhirKitClient, type FhirKitClient } from '../helpers/fhir-kit';
import { rawClient } from '../helpers/test-database';
import { whileTablesHeld } from '../helpers/hold-tables';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Billing through the FHIR API and fhir-kit-client: Claims projected onto `billing`, built from
 * encounters, and annotated by the billing-error check (one flag per error kind, none for a clean
 * claim), including two duplicates written at once.
 */

const CHECK = 'https://fhir-ai-server.dev/StructureDefinition/billing-error-check';
const SCT = 'http://snomed.info/sct';
const CPT = 'http://www.ama-assn.org/go/cpt';

let t: TestApp;
let api: FhirApi;
let pg: Client;
let kit: FhirKitClient;
let patient: string;
let other: string;
let doctor: string;
let encounter: string;
let othersEncounter: string;

beforeAll(async () => {
  t = await startTestApp();
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  kit = fhirKitClient(t.baseUrl, t.token);
  patient = (await api.created({ resourceType: 'Patient', name: [{ family: 'Billing', given: ['Bea'] }] })).id;
  other = (await api.created({ resourceType: 'Patient', name: [{ family: 'Other', given: ['Otto'] }] })).id;
  doctor = (await api.created({ resourceType: 'Practitioner', name: [{ family: 'Surgeon' }] })).id;
  encounter = (
    await api.created({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
      subject: { reference: `Patient/${patient}` },
      participant: [{ individual: { reference: `Practitioner/${doctor}` } }],
      period: { start: '2026-11-10T08:00:00Z', end: '2026-11-12T12:00:00Z' },
    })
  ).id;
  othersEncounter = (
    await api.created({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: `Patient/${other}` },
      period: { start: '2026-11-10T09:00:00Z', end: '2026-11-10T10:00:00Z' },
    })
  ).id;
  await api.created({
    resourceType: 'Procedure',
    status: 'completed',
    code: { coding: [{ system: SCT, code: '80146002', display: 'Appendectomy' }] },
    subject: { reference: `Patient/${patient}` },
    encounter: { reference: `Encounter/${encounter}` },
    performedDateTime: '2026-11-10T10:30:00Z',
  });
  await api.created({
    resourceType: 'Condition',
    code: { coding: [{ system: SCT, code: '74400008', display: 'Appendicitis' }] },
    subject: { reference: `Patient/${patient}` },
    encounter: { reference: `Encounter/${encounter}` },
  });
});

afterAll(async () => {
  await pg?.end();
  await t?.close();
});

interface Item {
  sequence: number;
  code: string;
  date: string;
  net?: number;
  unitPrice?: number;
  quantity?: number;
  encounter?: string | null;
  currency?: string;
}

function claim(items: Item[], opts: { total?: number; currency?: string; patient?: string; status?: string } = {}): Json {
  return {
    resourceType: 'Claim',
    status: opts.status ?? 'active',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
    use: 'claim',
    patient: { reference: `Patient/${opts.patient ?? patient}` },
    created: '2026-11-12T13:00:00Z',
    provider: { reference: `Practitioner/${doctor}` },
    priority: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }] },
    insurance: [{ sequence: 1, focal: true, coverage: { display: 'Self-pay' } }],
    item: items.map((i) => ({
      sequence: i.sequence,
      productOrService: { coding: [{ system: CPT, code: i.code }] },
      servicedDate: i.date,
      ...(i.encounter === null ? {} : { encounter: [{ reference: `Encounter/${i.encounter ?? encounter}` }] }),
      ...(i.quantity !== undefined ? { quantity: { value: i.quantity } } : {}),
      ...(i.unitPrice !== undefined ? { unitPrice: { value: i.unitPrice, ...(i.currency ? { currency: i.currency } : {}) } } : {}),
      ...(i.net !== undefined ? { net: { value: i.net, ...(i.currency ? { currency: i.currency } : {}) } } : {}),
    })),
    ...(opts.total !== undefined ? { total: { value: opts.total, ...(opts.currency ? { currency: opts.currency } : {}) } } : {}),
  };
}

/** The check's verdict on a stored Claim: detected and the reasons' codes (a clean claim is stored as sent, without one). */
function verdict(c: Json): { detected: boolean; codes: string[]; details: string[]; rules?: string } {
  const ext = ((c.extension as Json[] | undefined) ?? []).find((e) => e.url === CHECK);
  if (!ext) return { detected: false, codes: [], details: [] };
  const reasons = (ext.extension as Json[]).filter((e) => e.url === 'reason');
  return {
    detected: (ext.extension as Json[]).find((e) => e.url === 'detected')!.valueBoolean,
    rules: (ext.extension as Json[]).find((e) => e.url === 'rules')?.valueString,
    codes: reasons.map((r) => (r.extension as Json[]).find((e) => e.url === 'code')!.valueCode),
    details: reasons.map((r) => (r.extension as Json[]).find((e) => e.url === 'detail')!.valueString),
  };
}

async function billingRow(id: string): Promise<Json> {
  const { rows } = await pg.query('SELECT patient_id, amount, status, ai_error_detected, ai_error_reasons, encounter_id FROM billing WHERE id = $1', [id]);
  return rows[0];
}

const post = (path: string, body: unknown = {}) =>
  request(t.app.getHttpServer()).post(path).set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/json').send(JSON.stringify(body));
const get = (path: string) => request(t.app.getHttpServer()).get(path).set('Authorization', `Bearer ${t.token}`);
const claimCount = async () => Number((await pg.query(`SELECT count(*) AS n FROM fhir_patient_resource WHERE resource_type = 'Claim' AND NOT deleted`)).rows[0].n);

describe('claims from encounters', () => {
  let first: Json;

  it('builds a clean Claim from the encounter: procedures as items, conditions as diagnoses, projected onto billing', async () => {
    const res = await post(`/api/billing/claims/from-encounter/${encounter}`, { unitPrices: { [`${SCT}|80146002`]: 1200 } });
    expectStatus(res, 201);
    first = res.body;
    expect(res.headers.location).toBe(`/fhir/Claim/${first.id}/_history/1`);
    expect(first).toMatchObject({
      resourceType: 'Claim',
      status: 'active',
      patient: { reference: `Patient/${patient}` },
      provider: { reference: `Practitioner/${doctor}` },
      type: { coding: [{ code: 'institutional' }] },
      item: [{ sequence: 1, productOrService: { coding: [{ code: '80146002' }] }, servicedDate: '2026-11-10', encounter: [{ reference: `Encounter/${encounter}` }], net: { value: 1200 } }],
      total: { value: 1200 },
    });
    expect(first.diagnosis).toHaveLength(1);
    expect(verdict(first)).toEqual({ detected: false, codes: [], details: [] });
    expect(await billingRow(first.id)).toEqual({ patient_id: patient, amount: '1200.00', status: 'active', ai_error_detected: false, ai_error_reasons: null, encounter_id: encounter });
  });

  it('flags the same claim made twice as a duplicate, naming the first', async () => {
    const res = await post(`/api/billing/claims/from-encounter/${encounter}`, { unitPrices: { '80146002': 1200 } });
    expectStatus(res, 201);
    const v = verdict(res.body);
    expect(v.codes).toEqual(['duplicate']);
    expect(v.details[0]).toContain(`Claim/${first.id}`);
    // The verdict names the rule version that made it, and its Device in the registry (ai_models).
    expect(v.rules).toBe('billing-error-rules 1.0.0');
    const check = (res.body.extension as Json[]).find((e) => e.url === CHECK);
    expect((check!.extension as Json[]).find((e) => e.url === 'model')?.valueReference).toEqual({ reference: 'Device/billing-error-rules-1.0.0', display: 'billing-error-rules 1.0.0' });
    expect((await billingRow(res.body.id)).ai_error_detected).toBe(true);
    // Cancelling the duplicate clears its flag (a cancelled claim is no duplicate).
    const cancelled = await api.updated({ ...res.body, status: 'cancelled' });
    expect(verdict(cancelled).detected).toBe(false);
    expect((await billingRow(res.body.id)).ai_error_detected).toBe(false);
  });

  it('refuses what it cannot build with an OperationOutcome, storing nothing', async () => {
    const before = await claimCount();
    const missing = await post('/api/billing/claims/from-encounter/no-such-encounter');
    expect(missing.status).toBe(404);
    expect(missing.body.resourceType).toBe('OperationOutcome');
    const badPrice = await post(`/api/billing/claims/from-encounter/${encounter}`, { unitPrices: { x: -1 } });
    expect(badPrice.status).toBe(400);
    expect(outcomeText(badPrice.body)).toContain('unitPrices');
    const unknownField = await post(`/api/billing/claims/from-encounter/${encounter}`, { price: 3 });
    expect(unknownField.status).toBe(400);
    const noProvider = await post(`/api/billing/claims/from-encounter/${othersEncounter}`);
    expect(noProvider.status).toBe(422);
    expect(outcomeText(noProvider.body)).toMatch(/provider/);
    expect(await claimCount()).toBe(before);
  });
});

describe('the billing-error check on Claims written through FHIR', () => {
  it('leaves a clean claim unflagged', async () => {
    const c = await api.created(claim([{ sequence: 1, code: '99221', date: '2026-11-10', quantity: 2, unitPrice: 150, net: 300 }, { sequence: 2, code: '36415', date: '2026-11-11', net: 25 }], { total: 325 }));
    expect(verdict(c)).toMatchObject({ detected: false, codes: [] });
    expect(await billingRow(c.id)).toMatchObject({ amount: '325.00', ai_error_detected: false, ai_error_reasons: null });
  });

  it('flags a claim none of whose charges names an encounter', async () => {
    const c = await api.created(claim([{ sequence: 1, code: '99282', date: '2026-11-10', net: 80, encounter: null }]));
    expect(verdict(c).codes).toEqual(['no-encounter']);
    expect(await billingRow(c.id)).toMatchObject({ ai_error_detected: true, ai_error_reasons: [{ code: 'no-encounter', detail: 'No item of the claim references an encounter' }] });
  });

  it('flags a charge on an encounter that does not exist', async () => {
    const c = await api.created(claim([{ sequence: 1, code: '99283', date: '2026-11-10', net: 90, encounter: 'missing-encounter' }]));
    expect(verdict(c).codes).toEqual(['encounter-not-found']);
  });

  it("flags a charge on another patient's encounter", async () => {
    const c = await api.created(claim([{ sequence: 1, code: '99284', date: '2026-11-10', net: 95, encounter: othersEncounter }]));
    const v = verdict(c);
    expect(v.codes).toEqual(['encounter-other-patient']);
    expect(v.details[0]).toContain(`Patient/${other}`);
  });

  it('flags a charge outside the encounter dates', async () => {
    const c = await api.created(claim([{ sequence: 1, code: '99231', date: '2026-12-01', net: 110 }]));
    const v = verdict(c);
    expect(v.codes).toEqual(['outside-encounter-period']);
    expect(v.details[0]).toContain('2026-11-10 to 2026-11-12');
  });

  it('flags totals that do not add up, and an item net that is not quantity × unit price', async () => {
    const c = await api.created(claim([{ sequence: 1, code: '80053', date: '2026-11-10', quantity: 3, unitPrice: 20, net: 70 }, { sequence: 2, code: '85025', date: '2026-11-10', net: 30 }], { total: 150 }));
    const v = verdict(c);
    expect(v.codes.sort()).toEqual(['item-net-mismatch', 'total-mismatch']);
    expect(v.details.join('\n')).toContain('The total 150.00 is not the sum of the items, 100.00');
    expect(v.details.join('\n')).toContain('Item 1 nets 70.00 but quantity × unit price × factor is 60.00');
    expect((await billingRow(c.id)).amount).toBe('150.00');
  });

  it('does not add amounts of different currencies: a USD total over USD and EUR items is flagged, and a sum of mixed nets is not projected', async () => {
    const mixed = await api.created(
      claim([{ sequence: 1, code: '80061', date: '2026-11-11', net: 100, currency: 'USD' }, { sequence: 2, code: '80062', date: '2026-11-11', net: 50, currency: 'EUR' }], { total: 150, currency: 'USD' }),
    );
    const v = verdict(mixed);
    expect(v.codes).toEqual(['total-mismatch']);
    expect(v.details[0]).toContain('EUR');
    const untotalled = await api.created(claim([{ sequence: 1, code: '80063', date: '2026-11-11', net: 100, currency: 'USD' }, { sequence: 2, code: '80064', date: '2026-11-11', net: 50, currency: 'EUR' }]));
    expect((await billingRow(untotalled.id)).amount).toBeNull();
    // an item priced in one currency and netted in another
    const priced = await api.created(claim([{ sequence: 1, code: '80065', date: '2026-11-11', quantity: 1, unitPrice: 40, net: 40 }]));
    const repriced = await api.created({ ...priced, id: undefined, item: [{ ...priced.item[0], productOrService: { coding: [{ system: CPT, code: '80066' }] }, unitPrice: { value: 40, currency: 'USD' }, net: { value: 40, currency: 'GBP' } }] });
    expect(verdict(repriced).codes).toEqual(['item-net-mismatch']);
    // the same charge in another currency is no duplicate of it; in the same currency it is
    const base = (currency: string) => claim([{ sequence: 1, code: '80067', date: '2026-11-11', net: 25, currency }]);
    expect(verdict(await api.created(base('USD'))).codes).toEqual([]);
    expect(verdict(await api.created(base('EUR'))).codes).toEqual([]);
    expect(verdict(await api.created(base('EUR'))).codes).toEqual(['duplicate']);
  });

  it('of identical claims written at once, leaves exactly one unflagged', async () => {
    // No encounter, so nothing but the check's own per-patient lock orders them.
    const body = claim([{ sequence: 1, code: '99238', date: '2026-11-12', net: 210, encounter: null }]);
    // The index the check reads is held until two are in flight at once, so they could not see each other's claim unaided.
    const results = await whileTablesHeld(t.db.url, ['search_reference', 'search_token'], 2, () => Promise.all(Array.from({ length: 6 }, () => api.create(body).then((r) => r))));
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201, 201]);
    const duplicates = results.map((r) => verdict(r.body).codes.includes('duplicate'));
    expect(duplicates.filter((d) => !d)).toHaveLength(1);
    const { rows } = await pg.query(`SELECT count(*) AS n FROM billing WHERE id = ANY($1::text[]) AND ai_error_reasons @> '[{"code": "duplicate"}]'`, [results.map((r) => r.body.id)]);
    expect(Number(rows[0].n)).toBe(5);
  });

  it('checks a transaction Bundle against its own encounter and its own earlier claims', async () => {
    const enc = {
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: `Patient/${patient}` },
      period: { start: '2026-11-20T09:00:00Z', end: '2026-11-20T10:00:00Z' },
    };
    const inBundle = () => {
      const c = claim([{ sequence: 1, code: '99213', date: '2026-11-20', net: 95 }]);
      c.item[0].encounter = [{ reference: 'urn:uuid:6f1c2b9e-0000-4000-8000-000000000001' }];
      return c;
    };
    const res = await request(t.app.getHttpServer())
      .post('/fhir')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/fhir+json')
      .send(
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: 'urn:uuid:6f1c2b9e-0000-4000-8000-000000000001', resource: enc, request: { method: 'POST', url: 'Encounter' } },
            { resource: inBundle(), request: { method: 'POST', url: 'Claim' } },
            { resource: inBundle(), request: { method: 'POST', url: 'Claim' } },
          ],
        }),
      );
    expectStatus(res, 200);
    const ids = (res.body.entry as Json[]).slice(1).map((e) => (e.response.location as string).split('/')[1]);
    const stored = await Promise.all(ids.map(async (id) => expectStatus(await api.read('Claim', id), 200).body));
    expect(stored.map((c) => verdict(c).codes)).toEqual([[], ['duplicate']]);
  });

  it('overrides a verdict a client sends, and works through fhir-kit-client', async () => {
    const forged = claim([{ sequence: 1, code: '99239', date: '2026-11-12', net: 50, encounter: null }]);
    forged.extension = [{ url: CHECK, extension: [{ url: 'detected', valueBoolean: false }] }];
    const c = (await kit.create({ resourceType: 'Claim', body: forged as Json & { resourceType: string } })) as Json;
    expect(verdict(c)).toMatchObject({ detected: true, codes: ['no-encounter'] });
    const read = (await kit.read({ resourceType: 'Claim', id: c.id as string })) as Json;
    expect(verdict(read).codes).toEqual(['no-encounter']);
    const found = (await kit.search({ resourceType: 'Claim', searchParams: { patient: `Patient/${patient}`, _count: '100' } })) as Json;
    expect((found.entry as Json[]).map((e) => e.resource.id)).toContain(c.id);
  });

  it('lists flagged claims with their reasons', async () => {
    const res = expectStatus(await get('/api/billing/claims?flagged=true'), 200).body;
    const codes = (res.items as Json[]).flatMap((i) => (i.reasons as Json[]).map((r) => r.code)).sort();
    expect(new Set(codes)).toEqual(new Set(['no-encounter', 'encounter-not-found', 'encounter-other-patient', 'outside-encounter-period', 'item-net-mismatch', 'total-mismatch', 'duplicate']));
    expect((res.items as Json[]).every((i) => i.errorDetected)).toBe(true);
    expect((await get('/api/billing/claims?flagged=maybe')).status).toBe(400);
  });
});
