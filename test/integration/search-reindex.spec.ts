import { DatabaseService } from '../../src/database/database.service';
import { KeyRing } from '../../src/crypto/key-ring';
import { SearchIndexWriter } from '../../src/fhir/search/search-index.writer';
import { SearchReindexService } from '../../src/fhir/search/search-reindex.service';
import { FhirRequest } from '../helpers/fhir-request';
import { rawClient } from '../helpers/test-database';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * `npm run reindex` (SearchReindexService): rebuilds the index rows of every current resource, and
 * leaves a stored record whose content is not its own unindexed, naming it.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let t: TestApp;
let api: FhirRequest;
let reindex: SearchReindexService;

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
  reindex = new SearchReindexService(t.app.get(DatabaseService), t.app.get(KeyRing), t.app.get(SearchIndexWriter));
  for (const [id, family] of [['ri-a', 'Ashdown'], ['ri-b', 'Birchley']]) {
    expect((await api.put(`Patient/${id}`, { resourceType: 'Patient', id, name: [{ family }] })).status).toBe(201);
    const obs = { resourceType: 'Observation', id: `${id}-o`, status: 'final', code: { coding: [{ system: 'urn:ri', code: 'c' }] }, subject: { reference: `Patient/${id}` } };
    expect((await api.put(`Observation/${id}-o`, obs)).status).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const ids = async (query: string) => ((await api.get(query)).body.entry ?? []).map((e: Json) => `${e.resource.resourceType}/${e.resource.id}`).sort();

it('rebuilds index rows that are gone', async () => {
  const pg = await rawClient(t.db.url);
  try {
    await pg.query(`DELETE FROM search_token WHERE resource_type = 'Observation'`);
    await pg.query(`DELETE FROM search_string WHERE resource_type = 'Patient'`);
  } finally {
    await pg.end();
  }
  expect(await ids('Observation?code=urn:ri|c')).toEqual([]);
  const { reindexed, refused } = await reindex.reindexAll(3);
  expect(refused).toEqual([]);
  expect(reindexed).toBeGreaterThanOrEqual(4);
  expect(await ids('Observation?code=urn:ri|c')).toEqual(['Observation/ri-a-o', 'Observation/ri-b-o']);
  expect(await ids('Patient?name=Birchley')).toEqual(['Patient/ri-b']);
});

it("leaves a record holding another one's content unindexed, and names it", async () => {
  const pg = await rawClient(t.db.url);
  try {
    // Patient ri-b's row now holds ri-a's ciphertext.
    await pg.query(
      `UPDATE fhir_patient_resource t SET content_enc = s.content_enc, key_id = s.key_id FROM fhir_patient_resource s
       WHERE t.resource_type = 'Patient' AND t.id = 'ri-b' AND s.resource_type = 'Patient' AND s.id = 'ri-a'`,
    );
  } finally {
    await pg.end();
  }
  const { refused } = await reindex.reindexAll();
  expect(refused).toEqual([expect.stringMatching(/^Patient\/ri-b: /)]);
  // Indexed from the forged content, ri-b would now be found by ri-a's name.
  expect(await ids('Patient?name=Ashdown')).toEqual(['Patient/ri-a']);
  // Its old rows stay: found by its own name, it is then refused as any read of it is.
  expect((await api.get('Patient?name=Birchley')).status).toBe(500);
});
