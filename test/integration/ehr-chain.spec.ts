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

  /** A patient with one DiagnosticReport; returns both ids. */
  async function patientWithReport(family: string): Promise<{ pid: string; rid: string }> {
    const pid = (await api.post('Patient', patient({ family }))).body.id as string;
    const report = await api.post('DiagnosticReport', { resourceType: 'DiagnosticReport', status: 'final', code: { text: `Report of ${family}` }, subject: { reference: `Patient/${pid}` } });
    expect(report.status).toBe(201);
    return { pid, rid: report.body.id as string };
  }

  const expectIntegrityFailure = (res: { status: number; body: { resourceType?: string; issue?: Array<{ diagnostics?: string }> } }, other: string) => {
    expect(res.status).toBe(500);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue?.[0].diagnostics).toMatch(/failed its integrity check/);
    expect(JSON.stringify(res.body)).not.toContain(other);
  };

  it("refuses to serve another patient's ciphertext moved into a row, and the chain finds it", async () => {
    const p1 = await patientWithReport('Swapone');
    const p2 = await patientWithReport('Swaptwo');
    expect(param(await verify(p1.pid), 'valid')?.valueBoolean).toBe(true);
    await pg.query(
      `UPDATE fhir_patient_resource t SET content_enc = s.content_enc, key_id = s.key_id FROM fhir_patient_resource s
       WHERE t.resource_type = 'DiagnosticReport' AND t.id = $1 AND s.resource_type = 'DiagnosticReport' AND s.id = $2`,
      [p1.rid, p2.rid],
    );
    expectIntegrityFailure(await api.get(`DiagnosticReport/${p1.rid}`), p2.pid);
    expectIntegrityFailure(await api.get(`DiagnosticReport?subject=Patient/${p1.pid}`), p2.pid);
    expectIntegrityFailure(await api.get(`Patient/${p1.pid}/$everything`), p2.pid);
    const result = await verify(p1.pid);
    expect(param(result, 'valid')?.valueBoolean).toBe(false);
    expect(param(result, 'reason')?.valueString).toMatch(/integrity check: its content is DiagnosticReport\//);
    expect(param((await api.get('$verify-ehr-chain')).body as Params, 'valid')?.valueBoolean).toBe(false);

    // The row moved under another patient whole (its own ciphertext, another patient_id).
    const p3 = await patientWithReport('Swapthree');
    await pg.query(
      `WITH gone AS (DELETE FROM fhir_patient_resource WHERE resource_type = 'DiagnosticReport' AND id = $2 RETURNING *)
       INSERT INTO fhir_patient_resource (patient_id, resource_type, id, version_id, last_updated, deleted, content, content_enc, key_id)
       SELECT $1, resource_type, id, version_id, last_updated, deleted, content, content_enc, key_id FROM gone`,
      [p3.pid, p2.rid],
    );
    expectIntegrityFailure(await api.get(`DiagnosticReport/${p2.rid}`), 'no such text');
  });

  it('refuses plaintext where the type is stored encrypted, and the chain finds it', async () => {
    const p1 = await patientWithReport('Forged');
    const forged = { resourceType: 'DiagnosticReport', id: p1.rid, meta: { versionId: '1' }, status: 'final', code: { text: 'FORGED' }, subject: { reference: `Patient/${p1.pid}` } };
    await pg.query(`UPDATE fhir_patient_resource SET content = $1, content_enc = NULL, key_id = NULL WHERE resource_type = 'DiagnosticReport' AND id = $2`, [
      JSON.stringify(forged),
      p1.rid,
    ]);
    expectIntegrityFailure(await api.get(`DiagnosticReport/${p1.rid}`), 'FORGED');
    const result = await verify(p1.pid);
    expect(param(result, 'valid')?.valueBoolean).toBe(false);
    expect(param(result, 'reason')?.valueString).toMatch(/plaintext/);
  });

  it('finds a patient whose documents have no chain records at all', async () => {
    const p1 = await patientWithReport('Unchained');
    await pg.query('DELETE FROM ehr_records WHERE patient_id = $1', [p1.pid]);
    const result = await verify(p1.pid);
    expect(param(result, 'valid')?.valueBoolean).toBe(false);
    expect(param(result, 'records')?.valueInteger).toBe(0);
    expect(param(result, 'reason')?.valueString).toMatch(/no record in the chain/);
    const all = (await api.get('$verify-ehr-chain')).body as Params;
    expect(param(all, 'valid')?.valueBoolean).toBe(false);
  });

  it('exports a signed checkpoint that later catches records cut off the end', async () => {
    const pid = await patientWithDocuments();
    const cp = (await api.get(`Patient/${pid}/$ehr-chain-checkpoint`)).body as Params;
    const checkpoint = param(cp, 'checkpoint')?.valueString as string;
    expect(checkpoint.split('.')).toHaveLength(3);
    expect(param(cp, 'seq')?.valueInteger).toBe(4);
    expect(param(await verify(pid, checkpoint), 'valid')?.valueBoolean).toBe(true);

    // The last record cut off while its document is still stored: the stored documents tell.
    await pg.query('DELETE FROM ehr_records WHERE patient_id = $1 AND seq = 4', [pid]);
    const cut = await verify(pid);
    expect(param(cut, 'valid')?.valueBoolean).toBe(false);
    expect(param(cut, 'reason')?.valueString).toMatch(/DiagnosticReport\/.+ is stored for this patient but has no record in the chain/);
    // The document removed too: the chain alone cannot tell, the checkpoint can.
    await pg.query(`DELETE FROM fhir_patient_resource_history WHERE patient_id = $1 AND resource_type = 'DiagnosticReport'`, [pid]);
    await pg.query(`DELETE FROM fhir_patient_resource WHERE patient_id = $1 AND resource_type = 'DiagnosticReport'`, [pid]);
    expect(param(await verify(pid), 'valid')?.valueBoolean).toBe(true);
    const withCheckpoint = await verify(pid, checkpoint);
    expect(param(withCheckpoint, 'valid')?.valueBoolean).toBe(false);
    expect(param(withCheckpoint, 'reason')?.valueString).toMatch(/removed/);

    const forged = checkpoint.slice(0, -4) + (checkpoint.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await api.get(`Patient/${pid}/$verify-ehr-chain?checkpoint=${encodeURIComponent(forged)}`)).status).toBe(400);
  });
});
