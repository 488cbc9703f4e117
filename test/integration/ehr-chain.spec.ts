import type { Client } from 'pg';
import { KeyRing } from '../../src/crypto/key-ring';
import { FhirRequest } from '../helpers/fhir-request';
import { containsBytes } from '../helpers/raw-db';
import { patient } from '../helpers/resources';
import { rawClient } from '../helpers/test-database';
import { startTestApp, type TestApp } from '../helpers/test-app';

type Params = { parameter: Array<{ name: string; valueBoolean?: boolean; valueString?: string; valueInteger?: number }> };
const param = (p: Params, name: string) => p.parameter.find((x) => x.name === name);

describe('EHR record chain', () => {
  let t: TestApp;
  let api: FhirRequest;
  let pg: Client;
  let dataKey: string;

  beforeAll(async () => {
    t = await startTestApp();
    api = FhirRequest.of(t);
    pg = await rawClient(t.db.url);
    dataKey = new KeyRing(t.config.encryptionKey).dataKey();
  });
  afterAll(async () => {
    await pg?.end();
    await t?.close();
  });

  /** A patient with a DocumentReference created, updated and deleted, and a DiagnosticReport: four records. */
  async function patientWithDocuments(): Promise<string> {
    const p = await api.post('Patient', patient());
    const pid = p.body.id as string;
    const doc = await api.post('DocumentReference', {
      resourceType: 'DocumentReference',
      status: 'current',
      subject: { reference: `Patient/${pid}` },
      content: [{ attachment: { contentType: 'text/plain', data: Buffer.from('Discharge summary: secret words').toString('base64') } }],
    });
    expect(doc.status).toBe(201);
    const updated = await api.put(`DocumentReference/${doc.body.id}`, { ...doc.body, status: 'superseded' });
    expect(updated.status).toBe(200);
    expect((await api.delete(`DocumentReference/${doc.body.id}`)).status).toBe(200);
    const report = await api.post('DiagnosticReport', { resourceType: 'DiagnosticReport', status: 'final', code: { text: 'Lipid panel' }, subject: { reference: `Patient/${pid}` } });
    expect(report.status).toBe(201);
    return pid;
  }

  const verify = async (pid: string, checkpoint?: string) =>
    (await api.get(`Patient/${pid}/$verify-ehr-chain${checkpoint ? `?checkpoint=${encodeURIComponent(checkpoint)}` : ''}`)).body as Params;

  it('appends every version of a clinical document, encrypted and linked', async () => {
    const pid = await patientWithDocuments();
    const { rows } = await pg.query('SELECT seq, record_type, resource_version, data, previous_hash, blockchain_hash FROM ehr_records WHERE patient_id = $1 ORDER BY seq', [pid]);
    expect(rows.map((r) => [Number(r.seq), r.record_type, r.resource_version])).toEqual([
      [1, 'DocumentReference', 1],
      [2, 'DocumentReference', 2],
      [3, 'DocumentReference', 3],
      [4, 'DiagnosticReport', 1],
    ]);
    expect(rows[1].previous_hash).toBe(rows[0].blockchain_hash);
    for (const r of rows.filter((x) => x.data)) {
      expect(containsBytes(r.data, 'Lipid panel')).toBe(false);
      expect(containsBytes(r.data, 'superseded')).toBe(false);
    }
    const result = await verify(pid);
    expect(param(result, 'valid')?.valueBoolean).toBe(true);
    expect(param(result, 'records')?.valueInteger).toBe(4);
  });

  it('finds a record changed directly in the database', async () => {
    const pid = await patientWithDocuments();
    const { rows } = await pg.query('SELECT id FROM ehr_records WHERE patient_id = $1 AND seq = 2', [pid]);
    await pg.query(`UPDATE ehr_records SET data = pgp_sym_encrypt('{"resourceType":"DocumentReference","status":"current"}', $1, 'cipher-algo=aes256') WHERE patient_id = $2 AND seq = 2`, [dataKey, pid]);
    const result = await verify(pid);
    expect(param(result, 'valid')?.valueBoolean).toBe(false);
    expect(param(result, 'brokenAt')?.valueString).toBe(rows[0].id);
    expect(param(result, 'reason')?.valueString).toMatch(/changed/);
    const all = (await api.get('$verify-ehr-chain')).body as Params;
    expect(param(all, 'valid')?.valueBoolean).toBe(false);
  });

  it('finds a removed record and reordered records', async () => {
    const removed = await patientWithDocuments();
    await pg.query('DELETE FROM ehr_records WHERE patient_id = $1 AND seq = 2', [removed]);
    expect(param(await verify(removed), 'valid')?.valueBoolean).toBe(false);

    const reordered = await patientWithDocuments();
    await pg.query('UPDATE ehr_records SET seq = -seq WHERE patient_id = $1 AND seq IN (2, 3)', [reordered]);
    await pg.query('UPDATE ehr_records SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE patient_id = $1 AND seq < 0', [reordered]);
    const result = await verify(reordered);
    expect(param(result, 'valid')?.valueBoolean).toBe(false);
    expect(param(result, 'reason')?.valueString).toMatch(/link/);
  });

  it('exports a signed checkpoint that later catches records cut off the end', async () => {
    const pid = await patientWithDocuments();
    const cp = (await api.get(`Patient/${pid}/$ehr-chain-checkpoint`)).body as Params;
    const checkpoint = param(cp, 'checkpoint')?.valueString as string;
    expect(checkpoint.split('.')).toHaveLength(3);
    expect(param(cp, 'seq')?.valueInteger).toBe(4);
    expect(param(await verify(pid, checkpoint), 'valid')?.valueBoolean).toBe(true);

    await pg.query('DELETE FROM ehr_records WHERE patient_id = $1 AND seq = 4', [pid]);
    expect(param(await verify(pid), 'valid')?.valueBoolean).toBe(true); // the chain alone cannot tell
    const withCheckpoint = await verify(pid, checkpoint);
    expect(param(withCheckpoint, 'valid')?.valueBoolean).toBe(false);
    expect(param(withCheckpoint, 'reason')?.valueString).toMatch(/removed/);

    const forged = checkpoint.slice(0, -4) + (checkpoint.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await api.get(`Patient/${pid}/$verify-ehr-chain?checkpoint=${encodeURIComponent(forged)}`)).status).toBe(400);
  });
});
