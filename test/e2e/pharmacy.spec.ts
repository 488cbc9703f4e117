import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectOperationOutcome, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { fhirKitClient, type FhirKitClient } from '../helpers/fhir-kit';
import { rawClient } from '../helpers/test-database';
import { whileTablesHeld } from '../helpers/hold-tables';
import { clientToken } from '../helpers/ai-recommendations';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Pharmacy through the FHIR API and fhir-kit-client: stocked batches (Medication + stock
 * extensions) projected onto `inventory`, prescriptions refused for expired or missing stock,
 * dispenses that take stock (and race for it), reorder alerts, and adherence rates.
 */

const STOCK = 'https://fhir-ai-server.dev/StructureDefinition/stock-on-hand';
const THRESHOLD = 'https://fhir-ai-server.dev/StructureDefinition/reorder-threshold';
const ADHERENCE = 'https://fhir-ai-server.dev/StructureDefinition/adherence-rate';
const DISPENSED_FROM = 'https://fhir-ai-server.dev/StructureDefinition/dispensed-from';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

let t: TestApp;
let api: FhirApi;
let pg: Client;
let kit: FhirKitClient;
let patient: string;
let otherPatient: string;

beforeAll(async () => {
  t = await startTestApp();
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  kit = fhirKitClient(t.baseUrl, t.token);
  patient = (await api.created({ resourceType: 'Patient', name: [{ family: 'Pharmacy', given: ['Pat'] }] })).id;
  otherPatient = (await api.created({ resourceType: 'Patient', name: [{ family: 'Other', given: ['Olga'] }] })).id;
});

afterAll(async () => {
  await pg?.end();
  await t?.close();
});

function batch(code: string, name: string, lot: string, stock: number, expiry: string, threshold?: number): Json {
  return {
    resourceType: 'Medication',
    extension: [{ url: STOCK, valueInteger: stock }, ...(threshold !== undefined ? [{ url: THRESHOLD, valueInteger: threshold }] : [])],
    code: { coding: [{ system: RXNORM, code, display: name }], text: name },
    batch: { lotNumber: lot, expirationDate: expiry },
  };
}

function prescription(code: string, quantity?: number, extra: Json = {}): Json {
  return {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: { coding: [{ system: RXNORM, code }] },
    subject: { reference: `Patient/${patient}` },
    authoredOn: '2026-11-01',
    ...(quantity !== undefined ? { dispenseRequest: { quantity: { value: quantity } } } : {}),
    ...extra,
  };
}

function dispense(medication: Json, quantity: number, extra: Json = {}): Json {
  return { resourceType: 'MedicationDispense', status: 'completed', ...medication, subject: { reference: `Patient/${patient}` }, quantity: { value: quantity }, ...extra };
}

const byCode = (code: string) => ({ medicationCodeableConcept: { coding: [{ system: RXNORM, code }] } });
const byBatch = (id: string) => ({ medicationReference: { reference: `Medication/${id}` } });

async function stockOf(id: string): Promise<number> {
  const m = expectStatus(await api.read('Medication', id), 200).body;
  return (m.extension as Json[]).find((e) => e.url === STOCK)!.valueInteger;
}

async function inventoryRow(id: string): Promise<Json> {
  const { rows } = await pg.query(
    `SELECT medication, medication_code, lot_number, stock_level, reorder_threshold, to_char(expiry_date, 'YYYY-MM-DD') AS expiry_date, reorder_alert FROM inventory WHERE id = $1`,
    [id],
  );
  return rows[0];
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pg.query(sql, params);
  return Number(rows[0].n);
}

const storedCount = (type: string) => count(`SELECT count(*) AS n FROM fhir_patient_resource WHERE resource_type = $1 AND NOT deleted`, [type]);

function get(path: string) {
  return request(t.app.getHttpServer()).get(path).set('Authorization', `Bearer ${t.token}`);
}

describe('inventory: stocked batches as Medication resources', () => {
  it('projects a batch onto inventory with its stock, threshold, expiry and no alert', async () => {
    const m = await api.created(batch('PH-1', 'Amoxicillin 500 MG', 'A-1', 10, '2099-12-31', 5));
    expect(await inventoryRow(m.id)).toEqual({
      medication: 'Amoxicillin 500 MG',
      medication_code: 'PH-1',
      lot_number: 'A-1',
      stock_level: 10,
      reorder_threshold: 5,
      expiry_date: '2099-12-31',
      reorder_alert: false,
    });
  });

  it('refuses a negative or non-integer stock and stores nothing', async () => {
    const before = await count('SELECT count(*) AS n FROM inventory');
    const bad = batch('PH-X', 'Bad', 'X', 1, '2099-01-01');
    bad.extension[0] = { url: STOCK, valueInteger: -3 };
    const res = await api.create(bad);
    expect(res.status).toBe(400);
    expect(outcomeText(res.body)).toMatch(/stock-on-hand.*0 or more/);
    bad.extension[0] = { url: STOCK, valueDecimal: 2.5 };
    expect((await api.create(bad)).status).toBe(400);
    expect(await count('SELECT count(*) AS n FROM inventory')).toBe(before);
  });
});

describe('prescriptions check stock and expiry', () => {
  it('refuses a prescription of a drug whose only batch has expired (422 naming the lot), storing nothing', async () => {
    const expired = await api.created(batch('PH-EXP', 'Expirin 10 MG', 'EXP-1', 20, '2020-01-31'));
    const before = await storedCount('MedicationRequest');
    const res = await api.create(prescription('PH-EXP', 2));
    expect(res.status).toBe(422);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const text = outcomeText(res.body);
    expect(text).toContain('Expirin 10 MG');
    expect(text).toContain(`Medication/${expired.id} lot EXP-1`);
    expect(text).toMatch(/expired/);
    expect(await storedCount('MedicationRequest')).toBe(before);
    expect(await count('SELECT count(*) AS n FROM prescriptions')).toBe(before);
  });

  it('refuses a prescription of an out-of-stock drug (409) and one asking more than is on hand', async () => {
    await api.created(batch('PH-OUT', 'Nostockol 5 MG', 'OUT-1', 0, '2099-01-01'));
    const before = await storedCount('MedicationRequest');
    const out = await api.create(prescription('PH-OUT'));
    expect(out.status).toBe(409);
    expect(outcomeText(out.body)).toMatch(/Nostockol 5 MG.*out of stock/);
    const tooMany = await api.create(prescription('PH-1', 50));
    expect(tooMany.status).toBe(409);
    expect(outcomeText(tooMany.body)).toMatch(/Amoxicillin 500 MG.*50 units needed but only 10 usable/);
    expect(await storedCount('MedicationRequest')).toBe(before);
  });

  it('accepts what the stock can serve, links a referenced batch, and leaves drugs it does not stock alone', async () => {
    const ok = await api.created(prescription('PH-1', 3));
    const [row] = (await pg.query('SELECT medication_code, status FROM prescriptions WHERE id = $1', [ok.id])).rows;
    expect(row).toEqual({ medication_code: 'PH-1', status: 'active' });
    const amox = (await pg.query(`SELECT id FROM inventory WHERE lot_number = 'A-1'`)).rows[0].id;
    const byRef = await api.created({ ...prescription('PH-1', 1), medicationCodeableConcept: undefined, ...byBatch(amox) });
    expect((await pg.query('SELECT inventory_id FROM prescriptions WHERE id = $1', [byRef.id])).rows[0].inventory_id).toBe(amox);
    await api.created(prescription('NOT-STOCKED', 100));
  });

  it('does not re-check a prescription whose supply did not change (e.g. completing it once stock ran out)', async () => {
    await api.created(batch('PH-ONCE', 'Oncemycin', 'ONCE-1', 1, '2099-01-01'));
    const mr = await api.created(prescription('PH-ONCE', 1));
    await api.created(dispense(byCode('PH-ONCE'), 1));
    await api.updated({ ...mr, status: 'completed' });
    // Reactivating it asks for stock again, which is gone.
    expect((await api.update({ ...mr, status: 'active' })).status).toBe(409);
  });

  it('refuses through fhir-kit-client with the OperationOutcome', async () => {
    const err = await kit.create({ resourceType: 'MedicationRequest', body: prescription('PH-EXP', 1) as Json & { resourceType: string } }).then(
      () => undefined,
      (e: { response: { status: number; data: Json } }) => e,
    );
    expect(err?.response.status).toBe(422);
    expect(err?.response.data.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(err?.response.data)).toContain('EXP-1');
    const created = (await kit.create({ resourceType: 'MedicationRequest', body: prescription('PH-1', 1) as Json & { resourceType: string } })) as Json;
    expect(created.id).toBeDefined();
  });
});

describe('dispensing takes stock and raises reorder alerts', () => {
  let med: string;

  beforeAll(async () => {
    med = (await api.created(batch('PH-D', 'Dispensol 20 MG', 'D-1', 10, '2099-06-30', 5))).id;
  });

  it('decrements the batch on a completed dispense and records where the units came from', async () => {
    const d = await api.created(dispense(byBatch(med), 4));
    expect(await stockOf(med)).toBe(6);
    expect((await inventoryRow(med)).stock_level).toBe(6);
    const from = (d.extension as Json[]).filter((e) => e.url === DISPENSED_FROM);
    expect(from).toEqual([{ url: DISPENSED_FROM, extension: [{ url: 'batch', valueReference: { reference: `Medication/${med}` } }, { url: 'quantity', valueInteger: 4 }] }]);
    // A preparation takes nothing; updating a completed dispense does not take twice.
    await api.created(dispense(byBatch(med), 1, { status: 'preparation' }));
    await api.updated({ ...d, note: [{ text: 'handed over at the counter' }] });
    expect(await stockOf(med)).toBe(6);
    expect((await inventoryRow(med)).reorder_alert).toBe(false);
  });

  it('sets reorder_alert and opens a reorder Task when the stock falls below the threshold', async () => {
    await api.created(dispense(byBatch(med), 2));
    expect(await stockOf(med)).toBe(4);
    expect((await inventoryRow(med)).reorder_alert).toBe(true);
    const task = expectStatus(await api.read('Task', `reorder-${med}`), 200).body;
    expect(task).toMatchObject({ status: 'requested', intent: 'order', focus: { reference: `Medication/${med}` } });
    expect(task.description).toMatch(/Dispensol 20 MG lot D-1: 4 units on hand, below the reorder threshold of 5/);
    const reorder = expectStatus(await get('/api/pharmacy/reorder'), 200).body;
    expect(reorder.items).toEqual([expect.objectContaining({ medication: `Medication/${med}`, stock: 4, reorderThreshold: 5, reorderAlert: true, task: { reference: `Task/reorder-${med}`, status: 'requested' } })]);
  });

  it('lets exactly one of two dispenses racing for the last units through', async () => {
    const before = await storedCount('MedicationDispense');
    // inventory is held until both are in flight: each has read the stock before either writes it, unless the batch lock orders them.
    const [a, b] = await whileTablesHeld(t.db.url, ['inventory'], 2, () => Promise.all([api.create(dispense(byBatch(med), 3)).then((r) => r), api.create(dispense(byBatch(med), 3)).then((r) => r)]));
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    const refused = a.status === 409 ? a : b;
    expect(outcomeText(refused.body)).toMatch(/Dispense refused: Dispensol 20 MG.*3 units needed but only 1 usable/);
    expect(await stockOf(med)).toBe(1);
    expect((await inventoryRow(med)).stock_level).toBe(1);
    expect(await storedCount('MedicationDispense')).toBe(before + 1);
  });

  it('closes the reorder Task when the batch is restocked', async () => {
    const m = expectStatus(await api.read('Medication', med), 200).body;
    await api.updated({ ...m, extension: [{ url: STOCK, valueInteger: 40 }, { url: THRESHOLD, valueInteger: 5 }] });
    expect((await inventoryRow(med)).reorder_alert).toBe(false);
    expect(expectStatus(await api.read('Task', `reorder-${med}`), 200).body.status).toBe('completed');
    expect(expectStatus(await get('/api/pharmacy/reorder'), 200).body.items).toEqual([]);
  });

  it('takes from the earliest-expiring usable batches of a drug, never expired ones, and gives back on entered-in-error', async () => {
    const old = (await api.created(batch('PH-F', 'Fefoxin', 'F-OLD', 100, '2021-01-01'))).id;
    const early = (await api.created(batch('PH-F', 'Fefoxin', 'F-EARLY', 2, '2098-01-01'))).id;
    const late = (await api.created(batch('PH-F', 'Fefoxin', 'F-LATE', 5, '2099-01-01'))).id;
    const d = await api.created(dispense(byCode('PH-F'), 4));
    expect([await stockOf(old), await stockOf(early), await stockOf(late)]).toEqual([100, 0, 3]);
    const from = (d.extension as Json[]).filter((e) => e.url === DISPENSED_FROM).map((e) => [e.extension[0].valueReference.reference, e.extension[1].valueInteger]);
    expect(from).toEqual([
      [`Medication/${early}`, 2],
      [`Medication/${late}`, 2],
    ]);
    const stock = expectStatus(await get('/api/pharmacy/stock?code=PH-F'), 200).body;
    expect(stock.totals).toEqual([{ code: 'PH-F', name: 'Fefoxin', usable: 3, expired: 100, reorderAlert: false }]);
    expect(stock.items.map((i: Json) => [i.lot, i.stock, i.expired])).toEqual([
      ['F-OLD', 100, true],
      ['F-EARLY', 0, false],
      ['F-LATE', 3, false],
    ]);

    await api.updated({ ...d, status: 'entered-in-error' });
    expect([await stockOf(old), await stockOf(early), await stockOf(late)]).toEqual([100, 2, 5]);
  });

  it('gives the units back when a completed dispense is deleted', async () => {
    const id = (await api.created(batch('PH-X', 'Xeldrin', 'X-1', 7, '2099-01-01'))).id;
    const d = await api.created(dispense(byBatch(id), 5));
    expect(await stockOf(id)).toBe(2);
    expectStatus(await api.delete('MedicationDispense', d.id), 200);
    expect(await stockOf(id)).toBe(7);
    expect((await inventoryRow(id)).stock_level).toBe(7);
  });

  it('refuses to dispense a batch that has expired (422), storing nothing', async () => {
    const expired = (await pg.query(`SELECT id FROM inventory WHERE lot_number = 'F-OLD'`)).rows[0].id;
    const before = await storedCount('MedicationDispense');
    const res = await api.create(dispense(byBatch(expired), 1));
    expect(res.status).toBe(422);
    expect(outcomeText(res.body)).toMatch(/F-OLD.*expired 2021-01-01/);
    expect(await stockOf(expired)).toBe(100);
    expect(await storedCount('MedicationDispense')).toBe(before);
  });

  it('answers the pharmacy API only to staff who may search Medication, and checks its parameters', async () => {
    expect((await request(t.app.getHttpServer()).get('/api/pharmacy/stock')).status).toBe(401);
    const asPatient = await clientToken(t, { role: 'patient', patient: `Patient/${patient}` });
    const refused = await request(t.app.getHttpServer()).get('/api/pharmacy/reorder').set('Authorization', `Bearer ${asPatient.token}`);
    expect(refused.status).toBe(403);
    expect(refused.body.resourceType).toBe('OperationOutcome');
    const pharmacist = (await api.created({ resourceType: 'Practitioner', name: [{ family: 'Pharmacist' }] })).id;
    const clinician = await clientToken(t, { role: 'clinician', practitioner: `Practitioner/${pharmacist}` });
    expect((await request(t.app.getHttpServer()).get('/api/pharmacy/stock').set('Authorization', `Bearer ${clinician.token}`)).status).toBe(200);
    const bad = await get('/api/pharmacy/stock?_count=0');
    expect(bad.status).toBe(400);
    expect(bad.body.resourceType).toBe('OperationOutcome');
  });
});

describe('a dispensed MedicationDispense keeps what it took', () => {
  const fromOf = (d: Json) => (d.extension as Json[]).filter((e) => e.url === DISPENSED_FROM).map((e) => [e.extension[0].valueReference.reference, e.extension[1].valueInteger]);

  it('refuses to change the medication or quantity of a completed dispense (422), changing nothing', async () => {
    const m1 = (await api.created(batch('PH-1000', 'Immutol', 'IM-1', 20, '2099-01-01'))).id;
    const other = (await api.created(batch('PH-1001', 'Otherol', 'OT-1', 20, '2099-01-01'))).id;
    const d = await api.created(dispense(byBatch(m1), 9));
    expect(await stockOf(m1)).toBe(11);
    for (const changed of [
      { ...d, quantity: { value: 2 } },
      { ...d, quantity: { value: 500 } },
      { ...d, medicationReference: { reference: `Medication/${other}` } },
      { ...d, medicationReference: undefined, ...byCode('PH-1001') },
    ]) {
      const res = await api.update(changed);
      expect(res.status).toBe(422);
      expectOperationOutcome(res.body);
      expect(outcomeText(res.body)).toMatch(/has been dispensed.*cannot change.*cancel it/);
    }
    expect([await stockOf(m1), await stockOf(other)]).toEqual([11, 20]);
    const stored = expectStatus(await api.read('MedicationDispense', d.id), 200).body;
    expect(stored.meta.versionId).toBe(d.meta.versionId);
    expect([stored.quantity.value, fromOf(stored)]).toEqual([9, [[`Medication/${m1}`, 9]]]);
    // The way to correct it: cancel (units back), then a new dispense.
    await api.updated({ ...d, status: 'cancelled' });
    expect(await stockOf(m1)).toBe(20);
    await api.created(dispense(byBatch(m1), 2));
    expect(await stockOf(m1)).toBe(18);
  });

  it('takes a unit once through completed → on-hold → completed, keeping its record', async () => {
    const m = (await api.created(batch('PH-HOLD', 'Holdamine', 'H-1', 5, '2099-01-01'))).id;
    const d = await api.created(dispense(byBatch(m), 1));
    expect(await stockOf(m)).toBe(4);
    const held = await api.updated({ ...d, status: 'on-hold' });
    expect(await stockOf(m)).toBe(4);
    expect(fromOf(held)).toEqual([[`Medication/${m}`, 1]]);
    const again = await api.updated({ ...held, status: 'completed' });
    expect(await stockOf(m)).toBe(4);
    expect(fromOf(again)).toEqual([[`Medication/${m}`, 1]]);
    // on hold, the quantity is fixed too
    expect((await api.update({ ...again, status: 'on-hold', quantity: { value: 3 } })).status).toBe(422);
    await api.updated({ ...again, status: 'entered-in-error' });
    expect(await stockOf(m)).toBe(5);
  });

  it('gives the units back when a dispense holding them is deleted in another status (on-hold)', async () => {
    const m = (await api.created(batch('PH-HOLDDEL', 'Holdelate', 'HD-1', 6, '2099-01-01'))).id;
    const d = await api.created(dispense(byBatch(m), 4));
    await api.updated({ ...d, status: 'on-hold' });
    expect(await stockOf(m)).toBe(2);
    expectStatus(await api.delete('MedicationDispense', d.id), 200);
    expect(await stockOf(m)).toBe(6);
    expect((await inventoryRow(m)).stock_level).toBe(6);
  });
});

describe('adherence', () => {
  const twiceDaily = (start: string, end: string) => ({
    dosageInstruction: [{ timing: { repeat: { frequency: 2, period: 1, periodUnit: 'd', boundsPeriod: { start, end } } } }],
  });
  const administration = (mr: string, status: 'completed' | 'not-done', at: string, subject = patient): Json => ({
    resourceType: 'MedicationAdministration',
    status,
    medicationCodeableConcept: { coding: [{ system: RXNORM, code: 'ADH-1' }] },
    subject: { reference: `Patient/${subject}` },
    request: { reference: `MedicationRequest/${mr}` },
    effectiveDateTime: at,
  });
  const rateRow = async (mr: string) => (await pg.query('SELECT adherence_rate FROM prescriptions WHERE id = $1', [mr])).rows[0].adherence_rate;
  const rateExt = async (mr: string) => ((expectStatus(await api.read('MedicationRequest', mr), 200).body.extension ?? []) as Json[]).find((e) => e.url === ADHERENCE)?.valueDecimal;

  it('is taken / expected doses from the timing: 2 a day for 7 days expects 14', async () => {
    const mr = (await api.created(prescription('ADH-1', undefined, twiceDaily('2026-11-01', '2026-11-07')))).id;
    expect(await rateRow(mr)).toBeNull();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await api.created(administration(mr, 'completed', `2026-11-0${1 + (i % 7)}T${i < 7 ? '08' : '20'}:00:00Z`))).id);
    for (let i = 0; i < 2; i++) await api.created(administration(mr, 'not-done', `2026-11-0${6 + i}T20:00:00Z`));
    // Computed here: 10 taken of 2 × 7 expected.
    expect(Number(await rateRow(mr))).toBeCloseTo(Math.round((10 / 14) * 100) / 100, 5);
    expect(await rateExt(mr)).toBe(0.71);
    // The same dose recorded again (same instant, same outcome) is not an eleventh dose.
    const duplicate = (await api.created(administration(mr, 'completed', '2026-11-01T08:00:00Z'))).id;
    expect(await rateExt(mr)).toBe(0.71);
    expectStatus(await api.delete('MedicationAdministration', duplicate), 200);
    expect(await count('SELECT count(*) AS n FROM adherence_tracking WHERE prescription_id = $1', [mr])).toBe(12);
    expect(await count('SELECT count(*) AS n FROM adherence_tracking WHERE prescription_id = $1 AND taken', [mr])).toBe(10);

    // A MedicationStatement saying it was taken counts as a dose: 11 / 14.
    await api.created({
      resourceType: 'MedicationStatement',
      status: 'completed',
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: 'ADH-1' }] },
      subject: { reference: `Patient/${patient}` },
      basedOn: [{ reference: `MedicationRequest/${mr}` }],
      effectiveDateTime: '2026-11-07T12:00:00Z',
    });
    expect(Number(await rateRow(mr))).toBeCloseTo(Math.round((11 / 14) * 100) / 100, 5);

    // An administration recorded in error no longer counts: 10 / 14.
    const first = expectStatus(await api.read('MedicationAdministration', ids[0]), 200).body;
    await api.updated({ ...first, status: 'entered-in-error' });
    expect(Number(await rateRow(mr))).toBeCloseTo(Math.round((10 / 14) * 100) / 100, 5);

    // A deleted administration no longer counts either: 9 / 14.
    expectStatus(await api.delete('MedicationAdministration', ids[1]), 200);
    expect(Number(await rateRow(mr))).toBeCloseTo(Math.round((9 / 14) * 100) / 100, 5);
    expect(await rateExt(mr)).toBe(Math.round((9 / 14) * 100) / 100);
    await api.created(administration(mr, 'completed', '2026-11-04T20:00:00Z'));
    expect(Number(await rateRow(mr))).toBeCloseTo(Math.round((10 / 14) * 100) / 100, 5);

    // A client cannot set the rate: it is recomputed.
    const current = expectStatus(await api.read('MedicationRequest', mr), 200).body;
    const forged = await api.updated({ ...current, extension: [{ url: ADHERENCE, valueDecimal: 1 }], note: [{ text: 'forged' }] });
    expect((forged.extension as Json[]).find((e) => e.url === ADHERENCE)!.valueDecimal).toBe(0.71);
    expect(Number(await rateRow(mr))).toBeCloseTo(0.71, 5);
  });

  it('for an as-needed prescription is the share of recorded doses taken, counting concurrent events', async () => {
    const mr = (await api.created(prescription('ADH-1', undefined, { dosageInstruction: [{ asNeededBoolean: true }] }))).id;
    const events = ['completed', 'completed', 'completed', 'not-done'] as const;
    const results = await Promise.all(events.map((s, i) => api.create(administration(mr, s, `2026-11-0${i + 1}T10:00:00Z`))));
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    expect(Number(await rateRow(mr))).toBeCloseTo(3 / 4, 5);
  });

  it("refuses an event that names another patient's prescription, storing nothing", async () => {
    const mr = (await api.created(prescription('ADH-1', undefined, twiceDaily('2026-11-01', '2026-11-07')))).id;
    const before = await storedCount('MedicationAdministration');
    const res = await api.create(administration(mr, 'completed', '2026-11-02T08:00:00Z', otherPatient));
    expect(res.status).toBe(400);
    expect(outcomeText(res.body)).toMatch(/MedicationRequest/);
    expect(await storedCount('MedicationAdministration')).toBe(before);
    expect(await rateRow(mr)).toBeNull();
  });

  it('sees, within one transaction Bundle, the batches and events written before (stock, dispense, adherence)', async () => {
    const u = (n: number) => `urn:uuid:9a7e0c52-0000-4000-8000-00000000000${n}`;
    const mr = prescription('PH-TX', 2, { dosageInstruction: [{ asNeededBoolean: true }] });
    const admin = (status: string) => ({ ...administration('x', status as 'completed', '2026-11-02T08:00:00Z'), request: { reference: u(2) } });
    const entries = [
      { fullUrl: u(1), resource: batch('PH-TX', 'Transactol', 'TX-1', 3, '2099-01-01', 2), request: { method: 'POST', url: 'Medication' } },
      { fullUrl: u(2), resource: mr, request: { method: 'POST', url: 'MedicationRequest' } },
      { resource: dispense(byCode('PH-TX'), 2), request: { method: 'POST', url: 'MedicationDispense' } },
      { resource: admin('completed'), request: { method: 'POST', url: 'MedicationAdministration' } },
      { resource: admin('not-done'), request: { method: 'POST', url: 'MedicationAdministration' } },
    ];
    const res = await request(t.app.getHttpServer())
      .post('/fhir')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }));
    expectStatus(res, 200);
    const [medId, mrId] = (res.body.entry as Json[]).map((e) => (e.response.location as string).split('/')[1]);
    expect(await stockOf(medId)).toBe(1);
    expect((await inventoryRow(medId)).reorder_alert).toBe(true);
    expect(Number(await rateRow(mrId))).toBeCloseTo(0.5, 5);

    // The same bundle asking for more than the batch it creates holds is refused whole.
    const before = await count('SELECT count(*) AS n FROM inventory');
    entries[2] = { resource: dispense(byCode('PH-TX2'), 4), request: { method: 'POST', url: 'MedicationDispense' } };
    entries[0] = { fullUrl: u(1), resource: batch('PH-TX2', 'Transactol', 'TX-2', 3, '2099-01-01'), request: { method: 'POST', url: 'Medication' } };
    entries[1] = { fullUrl: u(2), resource: prescription('PH-TX2', 1), request: { method: 'POST', url: 'MedicationRequest' } };
    const refused = await request(t.app.getHttpServer())
      .post('/fhir')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }));
    expect(refused.status).toBe(409);
    expect(outcomeText(refused.body)).toMatch(/4 units needed but only 3 usable/);
    expect(await count('SELECT count(*) AS n FROM inventory')).toBe(before);
  });
});
