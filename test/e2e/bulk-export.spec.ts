/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import type { Client } from 'pg';
import request from 'supertest';
import type { Resource } from '@medplum/fhirtypes';
import { expectOperationOutcome, type Json } from '../helpers/fhir-api';
import { FhirRequest } from '../helpers/fhir-request';
import { postTransaction } from '../helpers/search-fixtures';
import { hasSynthea, itWithSynthea, loadSyntheaBundle } from '../helpers/synthea';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { clientToken } from '../helpers/ai-recommendations';
import { validateFhirResource } from '../../src/fhir/definitions/resource-validator';
import { createDeidentifier } from '../../src/fhir/bulk/deidentify';
import { deidentificationKey } from '../../src/fhir/bulk/deidentify-key';
import { OperationOutcomeError } from '../../src/fhir/operation-outcome';
import { ExportRunner } from '../../src/fhir/bulk/export-runner';

/**
 * Bulk Data $export end to end: kick-off through the API, the export's row in PostgreSQL, a worker
 * (in this process) that queues and runs it, status polling, the manifest and the NDJSON files,
 * against two Synthea patients loaded through a transaction. Expected contents are computed from
 * the fixture files, not from the server.
 */

// Small files, so that a type's output is cut into several; quick pick-up of accepted exports.
const FILE_BYTES = 65536;
process.env.BULK_EXPORT_FILE_BYTES = String(FILE_BYTES);
process.env.BULK_EXPORT_POLL_MS = '200';

const it_ = itWithSynthea();
const DAY = 86_400_000;

let t: TestApp;
let worker: TestWorker | undefined;
let api: FhirRequest;
let pg: Client;
/** Per loaded bundle: the raw fixture and the resources as stored (ids assigned by the server). */
/** The Group made by the Group-level test (in patient A's compartment). */
let groupInA: Json | undefined;
let loaded: Array<{ raw: Json; stored: Json[]; patientId: string; compartment: Json[] }> = [];

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
  pg = await rawClient(t.db.url);
  if (!hasSynthea()) return;
  for (const i of [0, 1]) {
    const raw = loadSyntheaBundle(i);
    const stored = await postTransaction(api, raw);
    const patientEntry = (raw.entry as Json[]).find((e) => e.resource.resourceType === 'Patient') as Json;
    // The compartment, from the fixture: the Patient and every entry that refers to it.
    const compartment = stored.filter((_, k) => {
      const e = (raw.entry as Json[])[k];
      return e === patientEntry || JSON.stringify(e.resource).includes(patientEntry.fullUrl);
    });
    loaded.push({ raw, stored, patientId: stored.find((r) => r.resourceType === 'Patient')?.id as string, compartment });
  }
  // The data predates the AI here: its events are marked dispatched so no AI output joins the store meanwhile.
  await pg.query('UPDATE outbox_events SET dispatched_at = now() WHERE dispatched_at IS NULL');
}, 120000);

afterAll(async () => {
  await pg?.end();
  await worker?.close();
  await t?.close();
});

async function startWorker(): Promise<void> {
  worker ??= await startTestWorker(t.config);
}

// ---- helpers ------------------------------------------------------------------------------------

function kickoffRequest(path: string, token: string | null = t.token, prefer: string | null = 'respond-async'): request.Test {
  let r = request(t.app.getHttpServer()).get(`/fhir/${path}`).set('Accept', 'application/fhir+json');
  if (token) r = r.set('Authorization', `Bearer ${token}`);
  if (prefer) r = r.set('Prefer', prefer);
  return r;
}

/** Kicks off and returns the status URL's path. */
async function kickoff(path: string, token: string = t.token): Promise<string> {
  const res = await kickoffRequest(path, token);
  if (res.status !== 202) throw new Error(`kick-off ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  const location = res.headers['content-location'] as string;
  expect(location).toMatch(/\/fhir\/\$export-status\/[0-9a-f-]{36}$/);
  return new URL(location).pathname;
}

function status(path: string, token: string | null = t.token): request.Test {
  const r = request(t.app.getHttpServer()).get(path).set('Accept', 'application/json');
  return token ? r.set('Authorization', `Bearer ${token}`) : r;
}

async function manifestOf(statusPath: string, token: string = t.token): Promise<Json> {
  await startWorker();
  return waitFor(
    `export ${statusPath}`,
    async () => {
      const res = await status(statusPath, token);
      if (res.status === 202) return undefined;
      if (res.status !== 200) throw new Error(`status answered ${res.status}: ${JSON.stringify(res.body)}`);
      return res.body as Json;
    },
    60000,
    100,
  );
}

function file(url: string, token: string | null = t.token): request.Test {
  const r = request(t.app.getHttpServer()).get(new URL(url).pathname).buffer(true).parse((res, cb) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (text += c));
    res.on('end', () => cb(null, text));
  });
  return token ? r.set('Authorization', `Bearer ${token}`) : r;
}

interface Output {
  manifest: Json;
  byType: Map<string, Json[]>;
  /** Every file's text, joined. */
  text: string;
}

async function exportAll(path: string, token: string = t.token): Promise<Output> {
  const manifest = await manifestOf(await kickoff(path, token), token);
  const byType = new Map<string, Json[]>();
  let text = '';
  for (const o of manifest.output as Json[]) {
    const res = await file(o.url, token);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+ndjson/);
    const body = res.body as string;
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(FILE_BYTES);
    expect(body.endsWith('\n')).toBe(true);
    const lines = body.slice(0, -1).split('\n');
    expect(lines).toHaveLength(o.count);
    const resources = lines.map((l) => JSON.parse(l) as Json);
    for (const r of resources) expect(r.resourceType).toBe(o.type);
    byType.set(o.type, [...(byType.get(o.type) ?? []), ...resources]);
    text += body;
  }
  return { manifest, byType, text };
}

function countsOf(resources: Json[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const r of resources) c[r.resourceType] = (c[r.resourceType] ?? 0) + 1;
  return c;
}

function mapCounts(byType: Map<string, Json[]>): Record<string, number> {
  return Object.fromEntries([...byType].map(([k, v]) => [k, v.length]));
}

const idsOf = (rs: Json[]) => rs.map((r) => `${r.resourceType}/${r.id}`).sort();
const allStored = () => loaded.flatMap((l) => l.stored);

// ---- tests --------------------------------------------------------------------------------------

describe('kick-off refusals', () => {
  it.each([
    ['no Prefer: respond-async', '$export', null, /Prefer: respond-async/],
    ['an unknown _outputFormat', '$export?_outputFormat=text/csv', 'respond-async', /_outputFormat/],
    ['a _since that is not an instant', '$export?_since=yesterday', 'respond-async', /_since/],
    ['a _since without a time zone', '$export?_since=2024-01-01T00:00:00', 'respond-async', /_since/],
    ['an unknown type', '$export?_type=Patient,Spaceship', 'respond-async', /Spaceship/],
    ['_typeFilter (not supported)', '$export?_typeFilter=Observation%3Fstatus%3Dfinal', 'respond-async', /_typeFilter is not supported/],
    ['an unknown parameter', '$export?colour=blue', 'respond-async', /colour/],
    ['a patient parameter in a GET', 'Patient/$export?patient=Patient/x', 'respond-async', /POST/],
    ['a bad deidentify', '$export?deidentify=maybe', 'respond-async', /deidentify/],
  ])('refuses %s with 400 and an OperationOutcome, recording nothing', async (_what, path, prefer, message) => {
    const before = await pg.query('SELECT count(*)::int AS n FROM bulk_exports');
    const res = await kickoffRequest(path, t.token, prefer);
    expect(res.status).toBe(400);
    expectOperationOutcome(res.body);
    expect(JSON.stringify(res.body)).toMatch(message);
    const after = await pg.query('SELECT count(*)::int AS n FROM bulk_exports');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('ignores unsupported parameters with Prefer: handling=lenient', async () => {
    const res = await kickoffRequest('$export?_type=Patient&_typeFilter=Patient%3Factive%3Dtrue', t.token, 'respond-async, handling=lenient');
    expect(res.status).toBe(202);
  });

  it('needs a token, and answers an unknown Group with 404', async () => {
    expect((await kickoffRequest('$export', null)).status).toBe(401);
    const res = await kickoffRequest('Group/no-such-group/$export');
    expect(res.status).toBe(404);
    expectOperationOutcome(res.body);
  });
});

describe('asynchronous pattern', () => {
  it_('answers 202 with X-Progress while no worker has run it, then 200 with the manifest; DELETE cancels', async () => {
    expect(worker).toBeUndefined();
    const running = await kickoff('$export?_type=Patient');
    const cancelled = await kickoff('$export');
    const pending = await status(running);
    expect(pending.status).toBe(202);
    expect(pending.headers['x-progress']).toMatch(/accepted/);
    expect(Number(pending.headers['retry-after'])).toBeGreaterThan(0);

    const del = await request(t.app.getHttpServer()).delete(cancelled).set('Authorization', `Bearer ${t.token}`);
    expect(del.status).toBe(202);
    expectOperationOutcome(del.body);
    expect((await status(cancelled)).status).toBe(404);

    const manifest = await manifestOf(running);
    expect(manifest).toEqual({
      transactionTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      request: expect.stringMatching(/\/fhir\/\$export\?_type=Patient$/),
      requiresAccessToken: true,
      output: [{ type: 'Patient', url: expect.stringMatching(/\/fhir\/\$export-file\//), count: 2 }],
      error: [],
      extension: { 'urn:fhir-ai-server:deidentified': false },
    });
    // The cancelled one never ran: no files, still 404.
    const id = cancelled.split('/').pop();
    expect((await pg.query('SELECT count(*)::int AS n FROM bulk_export_files WHERE export_id = $1', [id])).rows[0].n).toBe(0);
    expect((await status(cancelled)).status).toBe(404);
    // DELETE after completion removes the files.
    const url = (manifest.output as Json[])[0].url as string;
    expect((await file(url)).status).toBe(200);
    expect((await request(t.app.getHttpServer()).delete(running).set('Authorization', `Bearer ${t.token}`)).status).toBe(202);
    expect((await file(url)).status).toBe(404);
  });
});

describe('exports as an administrator', () => {
  it_('system level with _type: every stored resource of those types, as stored, valid, in files of bounded size', async () => {
    const types = [...new Set(allStored().map((r) => r.resourceType as string))].sort();
    const out = await exportAll(`$export?_type=${types.join(',')}&_outputFormat=application/fhir%2Bndjson`);
    expect(mapCounts(out.byType)).toEqual(countsOf(allStored()));
    expect(idsOf([...out.byType.values()].flat())).toEqual(idsOf(allStored()));
    // Several files for the largest type (the file size limit is small here).
    expect((out.manifest.output as Json[]).filter((o) => o.type === 'Observation').length).toBeGreaterThan(1);
    // Lines are the resources as stored: valid R4, and equal to what a read answers.
    expect([...out.byType.values()].flat().filter((r) => problems(r).length)).toEqual([]);
    const patient = out.byType.get('Patient')?.find((p) => p.id === loaded[0].patientId);
    const read = await api.get(`Patient/${loaded[0].patientId}`);
    expect(patient).toEqual(read.body);
  });

  it_('system level without _type: every type but AuditEvents', async () => {
    const out = await exportAll('$export?_outputFormat=ndjson');
    expect(out.byType.has('AuditEvent')).toBe(false);
    for (const [type, n] of Object.entries(countsOf(allStored()))) expect(out.byType.get(type)?.length).toBe(n);
  });

  it_('Patient level: the compartments of all patients, nothing else', async () => {
    const out = await exportAll('Patient/$export?_outputFormat=application/ndjson');
    const expected = loaded.flatMap((l) => l.compartment);
    expect(mapCounts(out.byType)).toEqual(countsOf(expected));
    expect(idsOf([...out.byType.values()].flat())).toEqual(idsOf(expected));
  });

  it_('Group level (GET and POST with Parameters): the members\' compartments only', async () => {
    const [a, b] = loaded;
    const group = await api.post('Group', {
      resourceType: 'Group',
      type: 'person',
      actual: true,
      member: [{ entity: { reference: `Patient/${a.patientId}` } }, { entity: { reference: `Patient/${b.patientId}` }, inactive: true }],
    });
    expect(group.status).toBe(201);
    groupInA = group.body;
    // The Group itself is in its member's compartment.
    const out = await exportAll(`Group/${group.body.id}/$export`);
    expect(idsOf([...out.byType.values()].flat())).toEqual(idsOf([...a.compartment, group.body]));
    // Nothing of the inactive member (only the Group itself names it).
    expect([...out.byType.values()].flat().filter((r) => r.resourceType !== 'Group' && JSON.stringify(r).includes(b.patientId))).toEqual([]);

    // POST: a Parameters body with _type and patient (within the group).
    const res = await request(t.app.getHttpServer())
      .post(`/fhir/Group/${group.body.id}/$export`)
      .set('Authorization', `Bearer ${t.token}`)
      .set('Prefer', 'respond-async')
      .set('Content-Type', 'application/fhir+json')
      .send(
        JSON.stringify({
          resourceType: 'Parameters',
          parameter: [
            { name: '_type', valueString: 'Patient,Condition' },
            { name: 'patient', valueReference: { reference: `Patient/${a.patientId}` } },
          ],
        }),
      );
    expect(res.status).toBe(202);
    const manifest = await manifestOf(new URL(res.headers['content-location']).pathname);
    const expected = countsOf(a.compartment.filter((r) => r.resourceType === 'Patient' || r.resourceType === 'Condition'));
    expect(Object.fromEntries((manifest.output as Json[]).map((o) => [o.type, o.count]))).toEqual(expected);
  });

  it_('_since: only what changed after it', async () => {
    await new Promise((r) => setTimeout(r, 20));
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    const obs = await api.post('Observation', {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: `Patient/${loaded[0].patientId}` },
      effectiveDateTime: '2024-05-01T10:00:00Z',
      valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    });
    expect(obs.status).toBe(201);
    const out = await exportAll(`$export?_since=${encodeURIComponent(since)}&_type=Observation,Patient`);
    expect(idsOf([...out.byType.values()].flat())).toEqual([`Observation/${obs.body.id}`]);
    expect(await api.delete(`Observation/${obs.body.id}`).then((r) => r.status)).toBe(200);
  });

  it_('files and status need the token of the client that started the export', async () => {
    const statusPath = await kickoff('$export?_type=Patient');
    const manifest = await manifestOf(statusPath);
    const url = (manifest.output as Json[])[0].url as string;
    expect((await file(url, null)).status).toBe(401);
    expect((await status(statusPath, null)).status).toBe(401);
    const other = await clientToken(t, { role: 'ehr-system' });
    const res = await file(url, other.token);
    expect(res.status).toBe(404);
    expect((await status(statusPath, other.token)).status).toBe(404);
    expect((await file(url)).status).toBe(200);
  });
});

describe('the job', () => {
  it_('runs again without duplicating output: a new attempt replaces the files of one that died', async () => {
    const statusPath = await kickoff('$export?_type=Patient,Encounter');
    const first = await manifestOf(statusPath);
    const id = statusPath.split('/').pop() as string;
    // As if the worker had died after writing its files, before marking the export complete.
    await pg.query(`UPDATE bulk_exports SET status = 'in-progress' WHERE id = $1`, [id]);
    const runner = (worker as TestWorker).ctx.get(ExportRunner);
    expect(await runner.run(id)).toEqual(expect.objectContaining({ outcome: 'completed' }));
    const second = await manifestOf(statusPath);
    expect(second.output.map((o: Json) => [o.type, o.count])).toEqual(first.output.map((o: Json) => [o.type, o.count]));
    const rows = await pg.query('SELECT attempt, count(*)::int AS n FROM bulk_export_files WHERE export_id = $1 GROUP BY attempt', [id]);
    expect(rows.rows).toEqual([{ attempt: 2, n: (second.output as Json[]).length }]);
    // A finished export is not run again.
    expect(await runner.run(id)).toEqual({ outcome: 'skipped' });
  });

  it_('writes a resource it cannot export to the error file, and the others still go out', async () => {
    const org = loaded[0].stored.find((r) => r.resourceType === 'Organization') as Json;
    const saved = await pg.query(`SELECT content FROM fhir_resource WHERE resource_type = 'Organization' AND id = $1`, [org.id]);
    await pg.query(`UPDATE fhir_resource SET content = NULL WHERE resource_type = 'Organization' AND id = $1`, [org.id]);
    try {
      const out = await exportAll('$export?_type=Organization');
      const expected = allStored().filter((r) => r.resourceType === 'Organization').length - 1;
      expect(out.byType.get('Organization')).toHaveLength(expected);
      expect(out.manifest.error).toEqual([{ type: 'OperationOutcome', url: expect.stringMatching(/\/fhir\/\$export-file\//), count: 1 }]);
      const res = await file((out.manifest.error as Json[])[0].url);
      const oo = JSON.parse(res.body as string) as Json;
      expectOperationOutcome(oo);
      expect(oo.issue[0].diagnostics).toContain(`Organization/${org.id}`);
    } finally {
      await pg.query(`UPDATE fhir_resource SET content = $2::json WHERE resource_type = 'Organization' AND id = $1`, [org.id, JSON.stringify(saved.rows[0].content)]);
    }
  });
});

describe('stored records that are not their own', () => {
  it_('are not exported: a ciphertext moved to another patient\'s row goes to the error file, as a read refuses it', async () => {
    const [a, b] = loaded.map((l) => l.stored.find((r) => r.resourceType === 'Patient') as Json);
    const saved = await pg.query(`SELECT content_enc, key_id FROM fhir_patient_resource WHERE resource_type = 'Patient' AND id = $1`, [b.id]);
    await pg.query(
      `UPDATE fhir_patient_resource t SET content_enc = s.content_enc, key_id = s.key_id FROM fhir_patient_resource s
       WHERE t.resource_type = 'Patient' AND t.id = $2 AND s.resource_type = 'Patient' AND s.id = $1`,
      [a.id, b.id],
    );
    try {
      expect((await api.get(`Patient/${b.id}`)).status).toBe(500);
      const out = await exportAll('$export?_type=Patient');
      expect(idsOf(out.byType.get('Patient') ?? [])).not.toContain(`Patient/${b.id}`);
      expect((out.byType.get('Patient') ?? []).filter((r) => r.id === a.id)).toHaveLength(1); // a's copy went out once, from a's row
      const res = await file((out.manifest.error as Json[])[0].url);
      const oo = JSON.parse(res.body as string) as Json;
      expectOperationOutcome(oo);
      expect(oo.issue[0].diagnostics).toContain(`Patient/${b.id} could not be exported`);
    } finally {
      await pg.query(`UPDATE fhir_patient_resource SET content_enc = $2, key_id = $3 WHERE resource_type = 'Patient' AND id = $1`, [b.id, saved.rows[0].content_enc, saved.rows[0].key_id]);
    }
  });
});

describe('exports for data scientists', () => {
  it_('are de-identified: no identifier of the source anywhere, dates shifted per patient, stable pseudonyms', async () => {
    const ds = await clientToken(t, { role: 'data-scientist' });
    const first = await exportAll('$export', ds.token);
    expect((first.manifest.extension as Json)['urn:fhir-ai-server:deidentified']).toBe(true);
    for (const [type, n] of Object.entries(countsOf(allStored()))) expect(first.byType.get(type)?.length).toBe(n);

    // 1. Nothing that identifies anyone: names, telecom, address lines, cities, postal codes,
    //    identifiers of every resource in the fixture files, and the server's real ids.
    const secrets = new Set<string>();
    for (const l of loaded) collectIdentifiers(l.raw, secrets);
    for (const r of allStored()) secrets.add(r.id);
    expect(secrets.size).toBeGreaterThan(50);
    const leaked = [...secrets].filter((s) => first.text.includes(s));
    expect(leaked).toEqual([]);
    // Nor free text or links that could hold them: no narrative, no CodeableConcept or Dosage text, no email, no SSN-like string.
    // (The model registry's Devices keep the texts the registry wrote: they describe model versions, not people.)
    const deidKey = createDeidentifier(deidentificationKey(t.config));
    const registryDevices = new Set((await pg.query('SELECT id FROM ai_models')).rows.map((r) => deidKey.pseudonym('Device', r.id)));
    const aboutPeople = first.text.split('\n').filter((l) => !(l.includes('"resourceType":"Device"') && registryDevices.has(JSON.parse(l).id))).join('\n');
    expect(aboutPeople.length).toBeLessThan(first.text.length);
    expect(aboutPeople).not.toMatch(/"text":|mailto:|[\w.+-]+@[\w-]+\.[a-z]{2,}|\b\d{3}-\d{2}-\d{4}\b|"div"/i);

    // No time of writing: shifted, meta.lastUpdated minus the real write time would be the patient's shift.
    const everything = [...first.byType.values()].flat();
    expect(everything.filter((r) => r.meta?.lastUpdated !== undefined).map((r) => `${r.resourceType}/${r.id}`)).toEqual([]);
    expect(everything.every((r) => typeof r.meta?.versionId === 'string')).toBe(true);

    // 2. Dates of one patient all moved by the same number of days (30 to 365 either way).
    const deid = createDeidentifier(deidentificationKey(t.config));
    const exported = new Map([...first.byType.values()].flat().map((r) => [`${r.resourceType}/${r.id}`, r]));
    const offsets: number[] = [];
    for (const l of loaded) {
      const shifts = new Set<number>();
      const days = (a: string, b: string) => Math.round((Date.parse(a) - Date.parse(b)) / DAY);
      for (const original of l.compartment) {
        const copy = exported.get(`${original.resourceType}/${deid.pseudonym(original.resourceType, original.id)}`);
        expect(copy).toBeDefined();
        if (original.birthDate) shifts.add(days(copy?.birthDate, original.birthDate));
        if (original.period?.start) shifts.add(days(copy?.period.start, original.period.start));
        if (original.effectiveDateTime) shifts.add(days(copy?.effectiveDateTime, original.effectiveDateTime));
        if (original.issued) shifts.add(days(copy?.issued, original.issued));
        if (original.onsetDateTime) shifts.add(days(copy?.onsetDateTime, original.onsetDateTime));
      }
      expect(shifts.size).toBe(1);
      const [shift] = [...shifts];
      expect(Math.abs(shift)).toBeGreaterThanOrEqual(30);
      expect(Math.abs(shift)).toBeLessThanOrEqual(365);
      offsets.push(shift);
    }

    // 3. References point at the pseudonymous ids of resources in the same export.
    const ids = new Set(exported.keys());
    let checked = 0;
    for (const r of [...first.byType.values()].flat()) {
      for (const ref of [r.subject?.reference, r.patient?.reference, r.encounter?.reference, r.context?.reference].filter(Boolean)) {
        expect(ids.has(ref)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);

    // 4. The same pseudonyms and contents in a second export.
    const second = await exportAll('$export', ds.token);
    expect(idsOf([...second.byType.values()].flat())).toEqual(idsOf([...first.byType.values()].flat()));
    const p = deid.pseudonym('Patient', loaded[0].patientId);
    expect(second.byType.get('Patient')?.find((r) => r.id === p)).toEqual(first.byType.get('Patient')?.find((r) => r.id === p));

    // 5. Still valid R4 resources (codes and values kept).
    const invalid = [...first.byType.values()].flat().map((r) => ({ type: r.resourceType, problems: problems(r) })).filter((x) => x.problems.length);
    expect(invalid).toEqual([]);
  });

  it_('refuse _since (400), for data scientists and administrators asking for de-identified data, storing no export', async () => {
    const ds = await clientToken(t, { role: 'data-scientist' });
    const exportsBefore = (await pg.query('SELECT count(*)::int AS n FROM bulk_exports')).rows[0].n;
    const since = encodeURIComponent('2020-01-01T00:00:00Z');
    for (const [path, token] of [
      [`$export?_since=${since}`, ds.token],
      [`Patient/$export?_since=${since}&_type=Observation`, ds.token],
      [`$export?_since=${since}&deidentify=true`, t.token],
    ] as Array<[string, string]>) {
      const res = await kickoffRequest(path, token);
      expect([path, res.status]).toEqual([path, 400]);
      expectOperationOutcome(res.body);
      expect(JSON.stringify(res.body)).toMatch(/_since cannot be used with a de-identified export.*date shift/);
    }
    // Lenient handling does not turn the refusal into an ignored parameter.
    expect((await kickoffRequest(`$export?_since=${since}`, ds.token, 'respond-async, handling=lenient')).status).toBe(400);
    expect((await pg.query('SELECT count(*)::int AS n FROM bulk_exports')).rows[0].n).toBe(exportsBefore);
    // Identified exports keep _since.
    expect((await kickoffRequest(`$export?_since=${since}&_type=Patient`)).status).toBe(202);
  });

  it_('cannot ask for identified data, nor read AuditEvents', async () => {
    const ds = await clientToken(t, { role: 'data-scientist' });
    const res = await kickoffRequest('$export?deidentify=false', ds.token);
    expect(res.status).toBe(403);
    expectOperationOutcome(res.body);
    expect((await kickoffRequest('$export?_type=AuditEvent', ds.token)).status).toBe(403);
  });

  it_('read nothing identified through the rest of the FHIR API: reads, searches, history, $everything, batch entries', async () => {
    const ds = await clientToken(t, { role: 'data-scientist' });
    const dsApi = FhirRequest.of(t, ds.token);
    const pid = loaded[0].patientId;
    const obs = loaded[0].stored.find((r) => r.resourceType === 'Observation') as Json;
    for (const path of ['Patient?_elements=name,identifier', `Patient/${pid}`, `Observation/${obs.id}`, `Observation/${obs.id}/_history`, `Patient/${pid}/$everything`, `Patient/${pid}/Observation`, '_history', 'Patient/_history', '?_type=Patient']) {
      const res = await dsApi.get(path);
      expect([path, res.status]).toEqual([path, 403]);
      expectOperationOutcome(res.body);
      expect(JSON.stringify(res.body)).not.toContain(pid);
    }
    const batch = await dsApi.post('', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${pid}` } }, { request: { method: 'GET', url: 'Patient?_count=5' } }] });
    expect(batch.status).toBe(200);
    expect((batch.body.entry as Json[]).map((e) => e.response.status)).toEqual(['403', '403']);
    expect(JSON.stringify(batch.body)).not.toMatch(/"name"|"identifier"/);
    // The export, de-identified, still works for them.
    const res = await kickoffRequest('$export?_type=Patient', ds.token);
    expect(res.status).toBe(202);
  });

  it_('an administrator may ask for de-identified data', async () => {
    const out = await exportAll('$export?_type=Patient&deidentify=true');
    expect((out.manifest.extension as Json)['urn:fhir-ai-server:deidentified']).toBe(true);
    expect(out.text).not.toContain(loaded[0].patientId);
    expect(out.byType.get('Patient')?.every((p) => p.name === undefined && p.identifier === undefined)).toBe(true);
  });
});

describe('patient-context tokens', () => {
  it_('export only their own compartment, with Patient/$export', async () => {
    const [a, b] = loaded;
    const patient = await clientToken(t, { role: 'patient', patient: `Patient/${a.patientId}` });
    expect((await kickoffRequest('$export', patient.token)).status).toBe(403);
    const out = await exportAll('Patient/$export', patient.token);
    expect(idsOf([...out.byType.values()].flat())).toEqual(idsOf([...a.compartment, ...(groupInA ? [groupInA] : [])]));
    expect([...out.byType.values()].flat().filter((r) => r.resourceType !== 'Group' && JSON.stringify(r).includes(b.patientId))).toEqual([]);
  });
});

describe("status and files need the presenting token's scopes, not only its client", () => {
  it_('a down-scoped token of the same client gets 403 for the status, for files of types it may not read and for DELETE; its own types are served', async () => {
    const statusPath = await kickoff('Patient/$export?_type=Observation,Patient');
    const manifest = await manifestOf(statusPath);
    const scoped = async (scope: string) => {
      const res = await request(t.app.getHttpServer()).post('/auth/token').type('form')
        .send({ grant_type: 'client_credentials', client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET, scope });
      expect(res.body.scope).toBe(scope);
      return res.body.access_token as string;
    };
    const devices = await scoped('system/Device.rs');
    const observations = await scoped('system/Observation.rs');
    const urls = (type: string) => (manifest.output as Json[]).filter((o) => o.type === type).map((o) => o.url as string);
    expect(urls('Patient').length).toBeGreaterThan(0);
    expect(urls('Observation').length).toBeGreaterThan(0);
    for (const token of [devices, observations]) {
      const res = await status(statusPath, token);
      expect(res.status).toBe(403);
      expectOperationOutcome(res.body);
      for (const url of urls('Patient')) expect((await file(url, token)).status).toBe(403);
    }
    for (const url of urls('Observation')) {
      expect((await file(url, devices)).status).toBe(403);
      expect((await file(url, observations)).status).toBe(200);
    }
    expect((await request(t.app.getHttpServer()).delete(statusPath).set('Authorization', `Bearer ${devices}`)).status).toBe(403);
    expect((await status(statusPath)).status).toBe(200);
  });
});

/** The errors the server's R4 validator finds in a resource. */
function problems(r: Json): string[] {
  try {
    return validateFhirResource(r as Resource, r.resourceType as string)
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map((i) => `${i.expression?.join(',')}: ${i.diagnostics}`);
  } catch (e) {
    if (e instanceof OperationOutcomeError) return (e.outcome.issue ?? []).map((i) => `${i.expression?.join(',')}: ${i.diagnostics}`);
    throw e;
  }
}

/** Values that identify people, anywhere in a fixture: names, telecom, address details, identifiers. */
function collectIdentifiers(node: unknown, out: Set<string>): void {
  const add = (v: unknown) => {
    if (typeof v !== 'string') return;
    const s = v.trim();
    // Short values and short numbers would match codes and measurements by chance.
    if (s.length < 5 || (/^[\d.]+$/.test(s) && s.length < 8)) return;
    out.add(s);
  };
  if (Array.isArray(node)) {
    for (const n of node) collectIdentifiers(n, out);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Json;
  if (o.family !== undefined || o.given !== undefined) {
    add(o.family);
    for (const g of o.given ?? []) add(g);
    for (const p of o.prefix ?? []) add(p);
  }
  for (const tel of Array.isArray(o.telecom) ? o.telecom : []) add(tel.value);
  for (const a of Array.isArray(o.address) ? o.address : o.address ? [o.address] : []) {
    for (const line of a.line ?? []) add(line);
    add(a.city);
    add(a.postalCode);
  }
  for (const id of Array.isArray(o.identifier) ? o.identifier : o.identifier ? [o.identifier] : []) add(id.value);
  if (typeof o.url === 'string' && o.url.endsWith('patient-mothersMaidenName')) add(o.valueString);
  // Geolocation of addresses (Safe Harbor removes geocodes below state level).
  if ((o.url === 'latitude' || o.url === 'longitude') && typeof o.valueDecimal === 'number') out.add(String(o.valueDecimal));
  for (const v of Object.values(o)) collectIdentifiers(v, out);
}

describe('decimals', () => {
  it('keep the lexemes the client sent (1.50), in exports as stored and de-identified', async () => {
    expect((await api.put('Patient/bx-dec', '{"resourceType":"Patient","id":"bx-dec","gender":"female"}')).status).toBe(201);
    const obs =
      '{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}]},' +
      '"subject":{"reference":"Patient/bx-dec"},"valueQuantity":{"value":1.50,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"},' +
      '"referenceRange":[{"low":{"value":3.90}}]}';
    const created = await api.post('Observation', obs);
    expect(created.status).toBe(201);
    const ds = await clientToken(t, { role: 'data-scientist' });
    const deid = createDeidentifier(deidentificationKey(t.config));
    for (const [token, id] of [
      [t.token, created.body.id as string],
      [ds.token, deid.pseudonym('Observation', created.body.id as string)],
    ] as const) {
      const out = await exportAll('$export?_type=Observation', token);
      const line = out.text.split('\n').find((l) => (JSON.parse(l) as Json).id === id);
      expect(line).toBeDefined();
      expect(line!.replace(/":(?=\S)/g, '": ')).toContain('"value": 1.50');
      expect(line!.replace(/":(?=\S)/g, '": ')).toContain('"value": 3.90');
    }
  });
});
