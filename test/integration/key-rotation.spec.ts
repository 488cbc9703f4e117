import { Test } from '@nestjs/testing';
import type { Client } from 'pg';
import { loadConfig } from '../../src/config/app-config';
import { CoreModule } from '../../src/core/core.module';
import { createLogger } from '../../src/core/logger';
import { KeyRing } from '../../src/crypto/key-ring';
import { KeyRotationService } from '../../src/crypto/key-rotation.service';
import { FhirRequest } from '../helpers/fhir-request';
import { patient } from '../helpers/resources';
import { rawClient } from '../helpers/test-database';
import { startTestApp, type TestApp } from '../helpers/test-app';

const KEY1 = 'test-encryption-key-0123456789abcdef0123456789'; // the harness's key (id 1)
const KEY2 = 'second-encryption-key-for-rotation-9876543210-xyz';

describe('encryption key rotation', () => {
  let t: TestApp;
  let pg: Client;
  const apps: TestApp[] = [];
  const contexts: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    t = await startTestApp();
    pg = await rawClient(t.db.url);
  });
  afterAll(async () => {
    for (const c of contexts) await c.close();
    for (const a of apps) await a.close();
    await pg?.end();
    await t?.close();
  });

  /** The API again, on the same database, with another key configuration. */
  async function apiWith(env: Record<string, string>): Promise<FhirRequest> {
    const a = await startTestApp({ DATABASE_URL: t.db.url, ENCRYPTION_KEY: '', ...env });
    apps.push(a);
    return FhirRequest.of(a);
  }

  async function rotationWith(env: Record<string, string>): Promise<KeyRotationService> {
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: t.db.url, AUTH_CLIENT_ID: 'x', AUTH_CLIENT_SECRET: 'y', LOG_LEVEL: 'fatal', ...env });
    // Rotation is driven by the test, not by the service's own timer.
    process.env.KEY_ROTATION_INTERVAL_MS = '0';
    const moduleRef = await Test.createTestingModule({ imports: [CoreModule.forRoot(config, createLogger('fatal', 'test'))], providers: [KeyRotationService] }).compile();
    await moduleRef.init();
    contexts.push(moduleRef);
    return moduleRef.get(KeyRotationService);
  }

  it('re-encrypts everything under the new key, readable throughout, resuming where it stopped', async () => {
    const api = FhirRequest.of(t);
    const ssn = '123-45-6789';
    const created = await api.post('Patient', patient({ ssn, family: 'Rotated' }));
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const doc = await api.post('DocumentReference', {
      resourceType: 'DocumentReference',
      status: 'current',
      subject: { reference: `Patient/${id}` },
      content: [{ attachment: { contentType: 'text/plain', data: Buffer.from('note').toString('base64') } }],
    });
    expect(doc.status).toBe(201);

    // A finished export's file, under key 1 like everything else.
    const exportId = '00000000-0000-4000-8000-000000000001';
    await pg.query(
      `INSERT INTO bulk_exports (id, client_id, level, request_url, params, deidentified, status, transaction_time, attempt, expires_at)
       VALUES ($1, 'admin', 'system', 'http://x/fhir/$export', '{}', false, 'completed', now(), 1, now() + interval '1 day')`,
      [exportId],
    );
    await pg.query(
      `INSERT INTO bulk_export_files (export_id, attempt, seq, kind, resource_type, count, bytes, content_enc, key_id)
       VALUES ($1, 1, 1, 'output', 'Patient', 1, 20, pgp_sym_encrypt('{"resourceType":"Patient"}', $2, 'cipher-algo=aes256'), 1)`,
      [exportId, new KeyRing(KEY1).dataKey()],
    );

    const rotation = await rotationWith({ ENCRYPTION_KEYS: `2:${KEY2},1:${KEY1}` });
    const before = await rotation.report();
    expect(before.problems).toEqual([]);
    expect(before.byKey.patients['1']).toBeGreaterThan(0);
    expect(before.byKey.bulk_export_files).toEqual({ '1': 1 });

    // Half-way: one row moved, the rest still under key 1. Both keys configured: everything reads.
    expect(await rotation.rotateAll(1, 1)).toBe(1);
    const both = await apiWith({ ENCRYPTION_KEYS: `2:${KEY2},1:${KEY1}` });
    expect((await both.get(`Patient/${id}`)).body.name[0].family).toBe('Rotated');
    expect((await both.get(`DocumentReference/${doc.body.id}`)).status).toBe(200);
    const written = await both.post('Patient', patient({ family: 'NewKey' }));
    expect(written.status).toBe(201);
    const { rows: newRow } = await pg.query('SELECT key_id FROM fhir_patient_resource WHERE id = $1', [written.body.id]);
    expect(newRow[0].key_id).toBe(2);

    // The rest, then nothing is left under key 1 and the check finds nothing wrong.
    expect(await rotation.rotateAll()).toBeGreaterThan(0);
    const after = await rotation.report();
    expect(after.problems).toEqual([]);
    for (const [table, byKey] of Object.entries(after.byKey)) expect({ table, key1: byKey['1'] ?? 0 }).toEqual({ table, key1: 0 });
    // The export file too: readable with key 2 alone, so retiring key 1 leaves no download broken.
    const key2Only = new KeyRing([{ id: 2, secret: KEY2 }]).dataKey();
    const { rows: file } = await pg.query('SELECT key_id, pgp_sym_decrypt(content_enc, $2) AS text FROM bulk_export_files WHERE export_id = $1', [exportId, key2Only]);
    expect(file).toEqual([{ key_id: 2, text: '{"resourceType":"Patient"}' }]);

    // Key 1 retired: reads, the EHR chain and identifier matching still work (the blind index keeps its own key).
    const only2 = await apiWith({ ENCRYPTION_KEYS: `2:${KEY2}`, BLIND_INDEX_KEY: KEY1 });
    expect((await only2.get(`Patient/${id}`)).body.name[0].family).toBe('Rotated');
    const chain = await only2.get(`Patient/${id}/$verify-ehr-chain`);
    expect(chain.body.parameter.find((p: { name: string }) => p.name === 'valid').valueBoolean).toBe(true);
    const again = await only2.post('Patient', patient({ ssn, family: 'Duplicate' }));
    expect(again.status).toBe(409); // the national id's blind index still finds the first patient
  });

  it('reports a configuration that lacks a key still in use, and plaintext where ciphertext belongs', async () => {
    const onlyNew = await rotationWith({ ENCRYPTION_KEYS: `3:${'k'.repeat(40)}` });
    await pg.query(`INSERT INTO patients (id, name, contact_info, key_id) VALUES ('plain-1', 'x', convert_to('{"telecom":[]}', 'UTF8'), 2)`);
    const report = await onlyNew.report();
    expect(report.problems.join('\n')).toMatch(/key 2, which is not configured/);
    expect(report.problems.join('\n')).toMatch(/patients\.contact_info: 1 values are not pgcrypto ciphertext/);
    await pg.query(`DELETE FROM patients WHERE id = 'plain-1'`);
  });

  it('reports ciphertext moved into another resource\'s row, which is valid ciphertext of a configured key', async () => {
    const api = FhirRequest.of(t);
    const reports: string[] = [];
    for (const family of ['Movedone', 'Movedtwo']) {
      const pid = (await api.post('Patient', patient({ family }))).body.id as string;
      const r = await api.post('DiagnosticReport', { resourceType: 'DiagnosticReport', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${pid}` } });
      reports.push(r.body.id as string);
    }
    const rotation = await rotationWith({ ENCRYPTION_KEYS: `2:${KEY2},1:${KEY1}` });
    expect((await rotation.report()).problems).toEqual([]);
    await pg.query(
      `UPDATE fhir_patient_resource t SET content_enc = s.content_enc, key_id = s.key_id FROM fhir_patient_resource s
       WHERE t.resource_type = 'DiagnosticReport' AND t.id = $1 AND s.resource_type = 'DiagnosticReport' AND s.id = $2`,
      reports,
    );
    const problems = (await rotation.report()).problems.join('\n');
    expect(problems).toMatch(new RegExp(`fhir_patient_resource: 1 encrypted resources hold content that is not their row's .*DiagnosticReport/${reports[0]}`));
  });
});
