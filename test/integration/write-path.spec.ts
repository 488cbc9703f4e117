import type { Client } from 'pg';
import { KeyRing } from '../../src/crypto/key-ring';
import { FhirApi, expectStatus, outcomeText, type Json } from '../helpers/fhir-api';
import { auditMark, auditSince, containsBytes, count, outboxMark, outboxSince, storeRows, tableCounts } from '../helpers/raw-db';
import {
  condition,
  deviceObservation,
  encounter,
  labObservation,
  medicationRequest,
  patient,
  practitioner,
  randomSsn,
  vitalSignsPanel,
  US_SSN_SYSTEM,
} from '../helpers/resources';
import { identifierValue, itWithSynthea, syntheaPatient } from '../helpers/synthea';
import { TEST_CLIENT_ID, startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';

/**
 * The one write path against the real database, through the HTTP API: encryption at rest (read
 * from the raw columns), projections onto the seed's tables, versions and history, audit rows,
 * referential integrity, national-id uniqueness and the transactional outbox.
 */

const ACTOR = `client:${TEST_CLIENT_ID}`;

/** Tables a refused write must leave untouched. */
const WRITE_TABLES = [
  'fhir_resource',
  'fhir_resource_history',
  'fhir_patient_resource',
  'fhir_patient_resource_history',
  'patients',
  'patient_national_ids',
  'doctors',
  'encounters',
  'diagnoses',
  'prescriptions',
  'monitoring_data',
  'icu_monitoring',
  'outbox_events',
  'audit_log',
] as const;

let t: TestApp;
let api: FhirApi;
let pg: Client;
let keys: KeyRing;

beforeAll(async () => {
  t = await startTestApp();
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  keys = new KeyRing(t.config.encryptionKey);
});

afterAll(async () => {
  await pg?.end();
  await t?.close();
});

/** Exactly one row, or the test fails saying how many there were. */
async function one<T extends Record<string, any> = Record<string, any>>(sql: string, params: unknown[] = []): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const { rows } = await pg.query<T>(sql, params);
  if (rows.length !== 1) throw new Error(`expected exactly one row from ${sql} ${JSON.stringify(params)}, got ${rows.length}`);
  return rows[0];
}

async function decrypt(bytes: Buffer): Promise<string> {
  return (await one<{ v: string }>('SELECT pgp_sym_decrypt($1::bytea, $2) AS v', [bytes, keys.dataKey()])).v;
}

describe('encryption at rest', () => {
  itWithSynthea()('keeps a Synthea Patient encrypted in the store, its history, the patients row and out of the audit log', async () => {
    const source = syntheaPatient(0);
    const ssn = identifierValue(source, US_SSN_SYSTEM);
    const family: string = source.name[0].family;
    const given: string = source.name[0].given[0];
    const phone: string = source.telecom[0].value;
    const street: string = source.address[0].line[0];
    expect(ssn).toMatch(/^\d{3}-\d{2}-\d{4}$/);
    const secrets = [family, ssn as string, phone, street];

    const mark = await auditMark(pg);
    const created = await api.created(source);
    const id: string = created.id;

    // The stored current version: ciphertext only, with its key id, and it decrypts to what the API serves.
    const [current] = await storeRows(pg, 'fhir_patient_resource', 'Patient', id);
    expect(current.patient_id).toBe(id);
    expect(current.content).toBeNull();
    expect(Buffer.isBuffer(current.content_enc)).toBe(true);
    expect(current.key_id).toBe(1);
    for (const s of secrets) expect(containsBytes(current.content_enc, s)).toBe(false);
    expect(JSON.parse(await decrypt(current.content_enc as Buffer))).toEqual(created);
    // The same check in SQL, the way the brief states it.
    for (const s of secrets) {
      const r = await one<{ pos: number }>(
        `SELECT position(convert_to($1, 'UTF8') in content_enc) AS pos FROM fhir_patient_resource WHERE resource_type = 'Patient' AND id = $2`,
        [s, id],
      );
      expect(r.pos).toBe(0);
    }
    // Without the key there is nothing to read.
    await expect(pg.query('SELECT pgp_sym_decrypt(content_enc, $1) FROM fhir_patient_resource WHERE id = $2', ['not-the-key', id])).rejects.toThrow();

    // History holds the same version, also encrypted.
    const history = await storeRows(pg, 'fhir_patient_resource_history', 'Patient', id);
    expect(history).toHaveLength(1);
    expect(history[0].content).toBeNull();
    expect(history[0].key_id).toBe(1);
    for (const s of secrets) expect(containsBytes(history[0].content_enc, s)).toBe(false);
    expect(JSON.parse(await decrypt(history[0].content_enc as Buffer))).toEqual(created);

    // The patients row: contact_info and national_id are pgcrypto bytea, the blind index is the HMAC.
    const row = await one<{
      name: string;
      contact_info: Buffer;
      national_id: Buffer;
      national_id_system: string;
      national_id_hash: Buffer;
      key_id: number;
    }>('SELECT name, contact_info, national_id, national_id_system, national_id_hash, key_id FROM patients WHERE id = $1', [id]);
    expect(row.name).toBe(`${given} ${family}`);
    expect(Buffer.isBuffer(row.contact_info)).toBe(true);
    expect(Buffer.isBuffer(row.national_id)).toBe(true);
    for (const s of [phone, street, ssn as string]) {
      expect(containsBytes(row.contact_info, s)).toBe(false);
      expect(containsBytes(row.national_id, s)).toBe(false);
    }
    expect(row.key_id).toBe(1);
    expect(row.national_id_system).toBe(US_SSN_SYSTEM);
    expect(row.national_id_hash.equals(keys.blindIndex(`${US_SSN_SYSTEM}|${ssn}`))).toBe(true);
    const decrypted = await one<{ nid: string; contact: string }>(
      'SELECT pgp_sym_decrypt(national_id, $1) AS nid, pgp_sym_decrypt(contact_info, $1) AS contact FROM patients WHERE id = $2',
      [keys.dataKey(), id],
    );
    expect(decrypted.nid).toBe(ssn);
    const contact = JSON.parse(decrypted.contact);
    expect(contact.telecom).toEqual(source.telecom);
    expect(contact.address).toEqual(source.address);
    // Uniqueness is kept on the hash, never on the plaintext.
    const nid = await one<{ patient_id: string }>('SELECT patient_id FROM patient_national_ids WHERE national_id_hash = $1', [row.national_id_hash]);
    expect(nid.patient_id).toBe(id);

    // The audit log names the rows, never their values.
    const audit = await pg.query<{ t: string }>('SELECT a::text AS t FROM audit_log a WHERE id > $1', [mark]);
    expect(audit.rows.length).toBeGreaterThanOrEqual(4);
    for (const { t: text } of audit.rows) for (const s of secrets) expect(text).not.toContain(s);
  });

  it('stores a non-sensitive Observation as json in content: the text the server wrote, as served', async () => {
    const p = await api.created(patient());
    const obs = await api.created(labObservation(p.id));
    const [current] = await storeRows(pg, 'fhir_patient_resource', 'Observation', obs.id);
    expect(current.patient_id).toBe(p.id);
    expect(current.content_enc).toBeNull();
    expect(current.key_id).toBeNull();
    expect(current.content).toEqual(obs);
    const [h] = await storeRows(pg, 'fhir_patient_resource_history', 'Observation', obs.id);
    expect(h.content).toEqual(obs);
    expect(h.content_enc).toBeNull();
    // Kept as text (json, not jsonb): the server's key order and no added spaces, so a read serves it unchanged.
    const { rows } = await pg.query<{ type: string; text: string }>(
      `SELECT pg_typeof(content)::text AS type, content::text AS text FROM fhir_patient_resource WHERE resource_type = 'Observation' AND id = $1`,
      [obs.id],
    );
    expect(rows[0].type).toBe('json');
    expect(rows[0].text.startsWith(`{"resourceType":"Observation","id":"${obs.id}","meta":{`)).toBe(true);
    expect(JSON.stringify(JSON.parse(rows[0].text))).toBe(rows[0].text);
  });

  it('stores a Practitioner (no patient) in fhir_resource, as json', async () => {
    const dr = await api.created(practitioner());
    expect(await storeRows(pg, 'fhir_patient_resource', 'Practitioner', dr.id)).toHaveLength(0);
    const [current] = await storeRows(pg, 'fhir_resource', 'Practitioner', dr.id);
    expect(current.content).toEqual(dr);
    expect(current.content_enc).toBeNull();
  });
});

describe('projections onto the seed tables', () => {
  interface Case {
    type: string;
    table: string;
    build: (ctx: { patientId: string; doctorId: string }) => Json;
    expected: (ctx: { patientId: string; doctorId: string }) => Record<string, unknown>;
    change: (r: Json) => Json;
    expectedAfterChange: Record<string, unknown>;
  }
  const cases: Case[] = [
    {
      type: 'Patient',
      table: 'patients',
      build: () => patient({ family: 'Projection', given: 'Paula', birthDate: '1975-11-30', ssn: null }),
      expected: () => ({ name: 'Paula Projection', dob: '1975-11-30', national_id: null, national_id_hash: null }),
      change: (r) => ({ ...r, name: [{ use: 'official', family: 'Projection-Smith', given: ['Paula'] }], birthDate: '1975-12-01' }),
      expectedAfterChange: { name: 'Paula Projection-Smith', dob: '1975-12-01' },
    },
    {
      type: 'Practitioner',
      table: 'doctors',
      build: () => practitioner({ family: 'Quinn', given: 'Michaela' }),
      expected: () => ({ name: 'Michaela Quinn' }),
      change: (r) => ({ ...r, qualification: [{ code: { text: 'Cardiology' } }] }),
      expectedAfterChange: { name: 'Michaela Quinn', specialty: 'Cardiology' },
    },
    {
      type: 'Encounter',
      table: 'encounters',
      build: ({ patientId, doctorId }) => encounter(patientId, { participant: [{ individual: { reference: `Practitioner/${doctorId}` } }] }),
      expected: ({ patientId, doctorId }) => ({
        patient_id: patientId,
        doctor_id: doctorId,
        status: 'finished',
        class_code: 'AMB',
        type_text: 'General examination',
        period_start: '2021-03-04T09:15:00.000Z',
        period_end: '2021-03-04T09:45:00.000Z',
      }),
      change: (r) => ({ ...r, status: 'cancelled', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' } }),
      expectedAfterChange: { status: 'cancelled', class_code: 'EMER' },
    },
    {
      type: 'Condition',
      table: 'diagnoses',
      build: ({ patientId, doctorId }) => condition(patientId, { asserter: { reference: `Practitioner/${doctorId}` } }),
      expected: ({ patientId, doctorId }) => ({
        patient_id: patientId,
        doctor_id: doctorId,
        diagnosis_text: 'Type 2 diabetes',
        code: '44054006',
        code_system: 'http://snomed.info/sct',
        ai_supported: false,
      }),
      change: (r) => ({ ...r, code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertension' }] } }),
      expectedAfterChange: { diagnosis_text: 'Hypertension', code: '38341003' },
    },
    {
      type: 'MedicationRequest',
      table: 'prescriptions',
      build: ({ patientId, doctorId }) => medicationRequest(patientId, { requester: { reference: `Practitioner/${doctorId}` } }),
      expected: ({ patientId, doctorId }) => ({
        patient_id: patientId,
        doctor_id: doctorId,
        medication: 'Metformin 500 mg tablet',
        medication_code: '860975',
        dosage: '1 tablet twice daily',
        status: 'active',
      }),
      change: (r) => ({ ...r, status: 'stopped', dosageInstruction: [{ text: '1 tablet daily' }] }),
      expectedAfterChange: { status: 'stopped', dosage: '1 tablet daily' },
    },
    {
      type: 'Observation',
      table: 'monitoring_data',
      build: ({ patientId }) => deviceObservation(patientId),
      expected: ({ patientId }) => ({ patient_id: patientId, device_type: 'Pulse oximeter PX-100', timestamp: '2021-03-04 10:00:00' }),
      change: (r) => ({ ...r, valueQuantity: { ...r.valueQuantity, value: 91 } }),
      expectedAfterChange: { device_type: 'Pulse oximeter PX-100' },
    },
    {
      type: 'Observation',
      table: 'icu_monitoring',
      build: ({ patientId }) => vitalSignsPanel(patientId),
      expected: ({ patientId }) => ({ patient_id: patientId, timestamp: '2021-03-04 11:00:00' }),
      change: (r) => ({ ...r, effectiveDateTime: '2021-03-04T12:30:00Z' }),
      expectedAfterChange: { timestamp: '2021-03-04 12:30:00' },
    },
  ];

  let ctx: { patientId: string; doctorId: string };
  beforeAll(async () => {
    ctx = { patientId: (await api.created(patient())).id, doctorId: (await api.created(practitioner())).id };
  });

  /** The row as plain values: dates as ISO strings, `date` and `timestamp` columns as their text. */
  async function projected(table: string, id: string): Promise<Record<string, unknown>[]> {
    const extra = table === 'patients' ? ', dob::text AS dob' : ['monitoring_data', 'icu_monitoring'].includes(table) ? ', "timestamp"::text AS "timestamp"' : '';
    const { rows } = await pg.query(`SELECT *${extra} FROM ${table} WHERE id = $1`, [id]);
    return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])));
  }

  it.each(cases.map((c) => [`${c.type} → ${c.table}`, c] as const))('%s: create, update and delete keep the row in step', async (_name, c) => {
    const created = await api.created(c.build(ctx));
    let rows = await projected(c.table, created.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ ...c.expected(ctx), id: created.id, version_id: 1, last_updated: created.meta.lastUpdated });

    const updated = await api.updated(c.change(created));
    expect(updated.meta.versionId).toBe('2');
    rows = await projected(c.table, created.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ ...c.expectedAfterChange, id: created.id, version_id: 2, last_updated: updated.meta.lastUpdated });
    expect(rows[0].last_updated).not.toBe(created.meta.lastUpdated);

    expectStatus(await api.delete(c.type, created.id), 200);
    expect(await projected(c.table, created.id)).toHaveLength(0);
    expectStatus(await api.read(c.type, created.id), 410);
  });

  it('keeps readings of a device Observation and the components of a vital-signs panel', async () => {
    const device = await api.created(deviceObservation(ctx.patientId));
    const m = await one('SELECT readings FROM monitoring_data WHERE id = $1', [device.id]);
    expect(m.readings).toMatchObject({ code: '59408-5', type: 'Quantity', value: 97, unit: '%' });
    const panel = await api.created(vitalSignsPanel(ctx.patientId));
    const icu = await one('SELECT vital_signs FROM icu_monitoring WHERE id = $1', [panel.id]);
    expect(icu.vital_signs.code).toBe('85353-1');
    expect(icu.vital_signs.components.map((c: Json) => [c.code, c.value])).toEqual([
      ['8867-4', 88],
      ['9279-1', 18],
    ]);
    // Each went to its own table only.
    expect(await count(pg, 'SELECT 1 FROM icu_monitoring WHERE id = $1', [device.id])).toBe(0);
    expect(await count(pg, 'SELECT 1 FROM monitoring_data WHERE id = $1', [panel.id])).toBe(0);
  });

  it('projects a lab Observation nowhere, yet stores it', async () => {
    const lab = await api.created(labObservation(ctx.patientId));
    for (const table of ['monitoring_data', 'icu_monitoring', 'stress_data']) {
      expect(await count(pg, `SELECT 1 FROM ${table} WHERE id = $1`, [lab.id])).toBe(0);
    }
    expect(await storeRows(pg, 'fhir_patient_resource', 'Observation', lab.id)).toHaveLength(1);
  });

  it('moves an Observation to another table when an update changes what it is', async () => {
    const obs = await api.created(deviceObservation(ctx.patientId));
    expect(await count(pg, 'SELECT 1 FROM monitoring_data WHERE id = $1', [obs.id])).toBe(1);
    const { device: _device, valueQuantity: _v, ...rest } = obs;
    const panel = vitalSignsPanel(ctx.patientId);
    await api.updated({ ...rest, code: panel.code, component: panel.component });
    expect(await count(pg, 'SELECT 1 FROM monitoring_data WHERE id = $1', [obs.id])).toBe(0);
    expect(await count(pg, 'SELECT 1 FROM icu_monitoring WHERE id = $1', [obs.id])).toBe(1);
  });

  it('moves an Observation, its stored versions and its row when its subject moves to another patient', async () => {
    const a = await api.created(patient());
    const b = await api.created(patient());
    const obs = await api.created(deviceObservation(a.id));
    expect((await one('SELECT patient_id FROM monitoring_data WHERE id = $1', [obs.id])).patient_id).toBe(a.id);

    const moved = await api.updated({ ...obs, subject: { reference: `Patient/${b.id}` } });
    expect(moved.meta.versionId).toBe('2');

    const current = await storeRows(pg, 'fhir_patient_resource', 'Observation', obs.id);
    expect(current.map((r) => [r.patient_id, r.version_id])).toEqual([[b.id, 2]]);
    const history = await storeRows(pg, 'fhir_patient_resource_history', 'Observation', obs.id);
    expect(history.map((r) => [r.patient_id, r.version_id])).toEqual([
      [b.id, 1],
      [b.id, 2],
    ]);
    const rows = await pg.query('SELECT patient_id, version_id FROM monitoring_data WHERE id = $1', [obs.id]);
    expect(rows.rows).toEqual([{ patient_id: b.id, version_id: 2 }]);
    // Still readable, at both versions, through the API.
    expect(expectStatus(await api.read('Observation', obs.id), 200).body.subject.reference).toBe(`Patient/${b.id}`);
    expect(expectStatus(await api.vread('Observation', obs.id, 1), 200).body.subject.reference).toBe(`Patient/${a.id}`);
  });
});

describe('versions and history', () => {
  it('keeps every version of an encrypted Patient: versions 1..4 with matching meta', async () => {
    const p = await api.created(patient({ ssn: null }));
    let current = p;
    for (const birthDate of ['1980-04-13', '1980-04-14', '1980-04-15']) {
      current = await api.updated({ ...current, birthDate });
    }
    expect(current.meta.versionId).toBe('4');

    const [cur] = await storeRows(pg, 'fhir_patient_resource', 'Patient', p.id);
    expect(cur.version_id).toBe(4);
    expect(JSON.parse(await decrypt(cur.content_enc as Buffer))).toEqual(current);

    const history = await storeRows(pg, 'fhir_patient_resource_history', 'Patient', p.id);
    expect(history.map((h) => h.version_id)).toEqual([1, 2, 3, 4]);
    const births = [];
    for (const h of history) {
      const stored = JSON.parse(await decrypt(h.content_enc as Buffer));
      expect(stored.meta.versionId).toBe(String(h.version_id));
      expect(stored.meta.lastUpdated).toBe(h.last_updated.toISOString());
      births.push(stored.birthDate);
      const vread = expectStatus(await api.vread('Patient', p.id, h.version_id), 200);
      expect(vread.body).toEqual(stored);
      expect(vread.headers.etag).toBe(`W/"${h.version_id}"`);
    }
    expect(births).toEqual(['1980-04-12', '1980-04-13', '1980-04-14', '1980-04-15']);
    // Strictly increasing lastUpdated.
    const times = history.map((h) => h.last_updated.getTime());
    expect([...times].sort((x, y) => x - y)).toEqual(times);
    expect(new Set(times).size).toBe(4);

    const bundle = expectStatus(await api.history('Patient', p.id), 200).body;
    expect(bundle.type).toBe('history');
    expect(bundle.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['4', '3', '2', '1']);
  });

  it('keeps every version of a jsonb Observation, and a delete is a version too', async () => {
    const p = await api.created(patient());
    let obs = await api.created(labObservation(p.id));
    for (const value of [150, 160, 170]) obs = await api.updated({ ...obs, valueQuantity: { value, unit: 'mg/dL' } });
    expectStatus(await api.delete('Observation', obs.id), 200);
    const history = await storeRows(pg, 'fhir_patient_resource_history', 'Observation', obs.id);
    expect(history.map((h) => [h.version_id, h.deleted])).toEqual([
      [1, false],
      [2, false],
      [3, false],
      [4, false],
      [5, true],
    ]);
    for (const h of history.slice(0, 4)) expect(h.content?.meta.versionId).toBe(String(h.version_id));
    expect(history[4].content).toBeNull();
    const [cur] = await storeRows(pg, 'fhir_patient_resource', 'Observation', obs.id);
    expect([cur.version_id, cur.deleted]).toEqual([5, true]);
  });

  it('makes no new version for an update that changes nothing', async () => {
    const dr = await api.created(practitioner());
    const again = await api.updated(dr);
    expect(again.meta.versionId).toBe('1');
    expect(await storeRows(pg, 'fhir_resource_history', 'Practitioner', dr.id)).toHaveLength(1);
  });
});

describe('audit', () => {
  it('attributes every row a write touches to the client, with its request id, table, operation and key', async () => {
    let mark = await auditMark(pg);
    const res = expectStatus(await api.create(patient()).set('X-Request-Id', 'audit-create-1'), 201);
    const p = res.body;
    let rows = await auditSince(pg, mark);
    expect(rows.every((r) => r.actor === ACTOR)).toBe(true);
    expect(rows.every((r) => r.request_id === 'audit-create-1')).toBe(true);
    const byTable = (table: string) => rows.filter((r) => r.table_name === table);
    expect(byTable('fhir_patient_resource').map((r) => [r.operation, r.row_key])).toEqual([
      ['INSERT', { patient_id: p.id, resource_type: 'Patient', id: p.id }],
    ]);
    expect(byTable('fhir_patient_resource_history').map((r) => [r.operation, r.row_key])).toEqual([
      ['INSERT', { patient_id: p.id, resource_type: 'Patient', id: p.id, version_id: 1 }],
    ]);
    expect(byTable('patients').map((r) => [r.operation, r.row_key])).toEqual([['INSERT', { id: p.id }]]);
    expect(byTable('patients')[0].changed_columns).toEqual(expect.arrayContaining(['contact_info', 'national_id', 'national_id_hash', 'name']));
    expect(byTable('patient_national_ids').map((r) => r.operation)).toEqual(['INSERT']);

    mark = await auditMark(pg);
    expectStatus(await api.update({ ...p, birthDate: '1990-01-01' }).set('X-Request-Id', 'audit-update-1'), 200);
    rows = await auditSince(pg, mark);
    expect(rows.every((r) => r.actor === ACTOR && r.request_id === 'audit-update-1')).toBe(true);
    const cur = byTable('fhir_patient_resource');
    expect(cur.map((r) => r.operation)).toEqual(['UPDATE']);
    expect(cur[0].changed_columns).toEqual(expect.arrayContaining(['content_enc', 'last_updated', 'version_id']));
    expect(byTable('fhir_patient_resource_history').map((r) => [r.operation, r.row_key.version_id])).toEqual([['INSERT', 2]]);
    const pat = byTable('patients');
    expect(pat.map((r) => [r.operation, r.row_key])).toEqual([['UPDATE', { id: p.id }]]);
    expect(pat[0].changed_columns).toEqual(expect.arrayContaining(['dob', 'version_id']));
    expect(pat[0].changed_columns).not.toContain('name');

    const obs = await api.created(deviceObservation(p.id));
    mark = await auditMark(pg);
    expectStatus(await api.delete('Observation', obs.id), 200);
    rows = await auditSince(pg, mark);
    expect(rows.every((r) => r.actor === ACTOR)).toBe(true);
    expect(rows.map((r) => [r.table_name, r.operation, r.row_key.id]).sort()).toEqual(
      [
        ['fhir_patient_resource', 'UPDATE', obs.id],
        ['fhir_patient_resource_history', 'INSERT', obs.id],
        ['monitoring_data', 'DELETE', obs.id],
      ].sort(),
    );
    expect(byTable('fhir_patient_resource')[0].changed_columns).toEqual(expect.arrayContaining(['deleted', 'content']));
  });

  it('attributes a change made outside the application to the database role', async () => {
    const dr = await api.created(practitioner());
    const mark = await auditMark(pg);
    await pg.query(`UPDATE doctors SET specialty = 'Neurology' WHERE id = $1`, [dr.id]);
    const rows = await auditSince(pg, mark);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actor: 'db:postgres',
      request_id: null,
      table_name: 'doctors',
      operation: 'UPDATE',
      row_key: { id: dr.id },
      changed_columns: ['specialty'],
    });
  });

  it('cannot be rewritten', async () => {
    await expect(pg.query(`UPDATE audit_log SET actor = 'someone-else' WHERE id = (SELECT max(id) FROM audit_log)`)).rejects.toThrow(/append-only/);
    await expect(pg.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
  });
});

describe('referential integrity', () => {
  it('refuses a Condition whose subject does not exist, naming the reference, and stores nothing', async () => {
    const before = await tableCounts(pg, WRITE_TABLES);
    const res = expectStatus(await api.create(condition('does-not-exist')), 400);
    expect(outcomeText(res.body)).toContain('Patient/does-not-exist');
    expect(await tableCounts(pg, WRITE_TABLES)).toEqual(before);
    expect(await count(pg, `SELECT 1 FROM fhir_patient_resource WHERE patient_id = 'does-not-exist'`)).toBe(0);
  });

  it.each([
    ['an Encounter', (pid: string) => encounter(pid)],
    ['a MedicationRequest', (pid: string) => medicationRequest(pid)],
    ['a device Observation', (pid: string) => deviceObservation(pid)],
    ['a lab Observation', (pid: string) => labObservation(pid)],
  ])('refuses %s whose subject does not exist', async (_name, build) => {
    const before = await tableCounts(pg, WRITE_TABLES);
    const res = expectStatus(await api.create(build('no-such-patient')), 400);
    expect(outcomeText(res.body)).toContain('Patient/no-such-patient');
    expect(await tableCounts(pg, WRITE_TABLES)).toEqual(before);
  });

  it('refuses a reference to a Practitioner that does not exist', async () => {
    const p = await api.created(patient());
    const before = await tableCounts(pg, WRITE_TABLES);
    const res = expectStatus(await api.create(encounter(p.id, { participant: [{ individual: { reference: 'Practitioner/nobody' } }] })), 400);
    expect(outcomeText(res.body)).toContain('Practitioner/nobody');
    expect(await tableCounts(pg, WRITE_TABLES)).toEqual(before);
  });

  it('refuses to delete a Patient an Encounter still references (409), and allows it once the Encounter is gone', async () => {
    const p = await api.created(patient());
    const enc = await api.created(encounter(p.id));
    const before = await tableCounts(pg, WRITE_TABLES);
    const res = expectStatus(await api.delete('Patient', p.id), 409);
    expect(outcomeText(res.body)).toContain(`Patient/${p.id}`);
    expect(await tableCounts(pg, WRITE_TABLES)).toEqual(before);
    const read = expectStatus(await api.read('Patient', p.id), 200);
    expect(read.body).toEqual(p);

    expectStatus(await api.delete('Encounter', enc.id), 200);
    expectStatus(await api.delete('Patient', p.id), 200);
    expectStatus(await api.read('Patient', p.id), 410);
    expect(await count(pg, 'SELECT 1 FROM patients WHERE id = $1', [p.id])).toBe(0);
    expect(await count(pg, 'SELECT 1 FROM patient_national_ids WHERE patient_id = $1', [p.id])).toBe(0);
    // And nothing can be filed under the deleted Patient any more.
    const late = expectStatus(await api.create(labObservation(p.id)), 400);
    expect(outcomeText(late.body)).toContain(`Patient/${p.id}`);
  });

  it('refuses to delete a Patient whose compartment still holds a resource no seed table keeps (a lab Observation)', async () => {
    const p = await api.created(patient());
    const lab = await api.created(labObservation(p.id));
    const res = expectStatus(await api.delete('Patient', p.id), 409);
    expect(outcomeText(res.body)).toContain(`Patient/${p.id}`);
    expect(outcomeText(res.body)).toContain('Observation');
    expectStatus(await api.read('Patient', p.id), 200);
    expectStatus(await api.delete('Observation', lab.id), 200);
    expectStatus(await api.delete('Patient', p.id), 200);
  });

  it('refuses to delete a Practitioner an Encounter references, naming the Practitioner', async () => {
    const p = await api.created(patient());
    const dr = await api.created(practitioner());
    await api.created(encounter(p.id, { participant: [{ individual: { reference: `Practitioner/${dr.id}` } }] }));
    const before = await tableCounts(pg, WRITE_TABLES);
    const res = expectStatus(await api.delete('Practitioner', dr.id), 409);
    expect(outcomeText(res.body)).toContain(`Practitioner/${dr.id} is still referenced by Encounter`);
    expect(await tableCounts(pg, WRITE_TABLES)).toEqual(before);
    expectStatus(await api.read('Practitioner', dr.id), 200);
  });
});

describe('national id uniqueness', () => {
  it('refuses a second Patient with the same SSN (409) and stores nothing', async () => {
    const ssn = randomSsn();
    const first = await api.created(patient({ ssn, family: 'First' }));
    const before = await tableCounts(pg, WRITE_TABLES);
    const res = expectStatus(await api.create(patient({ ssn, family: 'Second' })), 409);
    expect(outcomeText(res.body)).toMatch(/national identifier/i);
    expect(await tableCounts(pg, WRITE_TABLES)).toEqual(before);
    // Also through update-as-create with a client-chosen id.
    const put = expectStatus(await api.update({ ...patient({ ssn, family: 'Third' }), id: 'dup-ssn-client-id' }), 409);
    expect(put.body.resourceType).toBe('OperationOutcome');
    expect(await tableCounts(pg, WRITE_TABLES)).toEqual(before);
    expectStatus(await api.read('Patient', 'dup-ssn-client-id'), 404);

    // The first patient keeps its SSN through an update.
    const updated = await api.updated({ ...first, name: [{ use: 'official', family: 'First-Renamed', given: ['Alex'] }] });
    expect(updated.meta.versionId).toBe('2');
    const hash = keys.blindIndex(`${US_SSN_SYSTEM}|${ssn}`);
    expect((await one('SELECT patient_id FROM patient_national_ids WHERE national_id_hash = $1', [hash])).patient_id).toBe(first.id);
    expect((await one('SELECT national_id_hash FROM patients WHERE id = $1', [first.id])).national_id_hash.equals(hash)).toBe(true);
  });

  it('frees an SSN when its patient changes it', async () => {
    const ssn = randomSsn();
    const first = await api.created(patient({ ssn }));
    await api.updated({ ...first, identifier: [{ system: US_SSN_SYSTEM, value: randomSsn() }] });
    expect(await count(pg, 'SELECT 1 FROM patient_national_ids WHERE patient_id = $1', [first.id])).toBe(1);
    const second = await api.created(patient({ ssn }));
    const hash = keys.blindIndex(`${US_SSN_SYSTEM}|${ssn}`);
    expect((await one('SELECT patient_id FROM patient_national_ids WHERE national_id_hash = $1', [hash])).patient_id).toBe(second.id);
  });
});

describe('outbox', () => {
  it('records exactly one event per write, in the write transaction, and none for a refused or empty write', async () => {
    let mark = await outboxMark(pg);
    const p = await api.created(patient());
    let events = await outboxSince(pg, mark);
    expect(events.map((e) => [e.action, e.resource_type, e.resource_id, e.version_id, e.patient_id])).toEqual([['create', 'Patient', p.id, 1, p.id]]);
    // Written by the same transaction as the version it announces.
    const xmin = async (sql: string, params: unknown[]) => (await one<{ x: string }>(sql, params)).x;
    expect(await xmin('SELECT xmin::text AS x FROM outbox_events WHERE id = $1', [events[0].id])).toBe(
      await xmin(`SELECT xmin::text AS x FROM fhir_patient_resource_history WHERE resource_type = 'Patient' AND id = $1 AND version_id = 1`, [p.id]),
    );

    const obs = await api.created(deviceObservation(p.id));
    mark = await outboxMark(pg);
    const updated = await api.updated({ ...obs, status: 'amended' });
    events = await outboxSince(pg, mark);
    expect(events.map((e) => [e.action, e.resource_type, e.resource_id, e.version_id, e.patient_id])).toEqual([['update', 'Observation', obs.id, 2, p.id]]);

    mark = await outboxMark(pg);
    expectStatus(await api.delete('Observation', obs.id), 200);
    events = await outboxSince(pg, mark);
    expect(events.map((e) => [e.action, e.resource_id, e.version_id])).toEqual([['delete', obs.id, 3]]);

    // Refused writes: invalid (400), stale If-Match (412), and an update that changes nothing.
    mark = await outboxMark(pg);
    expectStatus(await api.create({ resourceType: 'Observation', subject: { reference: `Patient/${p.id}` } }), 400);
    expectStatus(await api.update({ ...p, gender: 'other' }, { 'If-Match': 'W/"7"' }), 412);
    expectStatus(await api.update(p), 200);
    expectStatus(await api.delete('Observation', obs.id), 200); // already deleted: nothing new
    expect(await outboxSince(pg, mark)).toEqual([]);
    expect(updated.meta.versionId).toBe('2');
  });
});

describe('the encryption key', () => {
  it('is nowhere in the audit log, the outbox or the server settings', async () => {
    // Make sure there is something to look at.
    const p = await api.created(patient());
    await api.updated({ ...p, birthDate: '1999-09-09' });
    const secrets = [t.config.encryptionKey, keys.dataKey()];
    for (const s of secrets) {
      expect(await count(pg, 'SELECT 1 FROM audit_log a WHERE strpos(a::text, $1) > 0', [s])).toBe(0);
      expect(await count(pg, 'SELECT 1 FROM outbox_events o WHERE strpos(o::text, $1) > 0', [s])).toBe(0);
      expect(await count(pg, 'SELECT 1 FROM pg_settings WHERE strpos(coalesce(setting, \'\'), $1) > 0', [s])).toBe(0);
      expect(await count(pg, 'SELECT 1 FROM pg_db_role_setting WHERE strpos(setconfig::text, $1) > 0', [s])).toBe(0);
      expect(await count(pg, 'SELECT 1 FROM pg_stat_activity WHERE strpos(coalesce(query, \'\'), $1) > 0 AND pid <> pg_backend_pid()', [s])).toBe(0);
    }
    expect(await count(pg, 'SELECT 1 FROM audit_log')).toBeGreaterThan(0);
  });
});
