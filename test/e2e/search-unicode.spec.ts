import { randomUUID } from 'node:crypto';
import { FhirRequest } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * String search over names written in other scripts and Unicode forms: case folded as Unicode's
 * full case mapping does (ß is ss, dotless ı is i, every sigma σ), accents ignored, and `:exact`
 * the same in NFC and NFD. Expected results are written out here; each name carries a tag of its
 * own so that only this file's Patients are counted.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let t: TestApp;
let api: FhirRequest;
const tag = `unicode-${randomUUID()}`;
const ids: Record<string, string> = {};
const NAMES: Record<string, string> = {
  strasse: 'Straße',
  mullerNfd: 'Mu\u0308ller', // u + combining diaeresis
  mullerNfc: 'M\u00fcller',
  greek: 'Παπαδόπουλος',
  konstantinos: 'Κωσταντίνος',
  turkish: 'Iıldız',
  cjk: '王小明',
  asaNfc: '\u00c5sa',
};

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
  for (const [key, family] of Object.entries(NAMES)) {
    const res = await api.post('Patient', { resourceType: 'Patient', meta: { tag: [{ system: 'urn:test', code: tag }] }, name: [{ family }] });
    if (res.status !== 201) throw new Error(`${key}: ${res.status} ${JSON.stringify(res.body)}`);
    ids[res.body.id] = key;
  }
});

afterAll(async () => {
  await t?.close();
});

async function found(query: string): Promise<string[]> {
  const res = await api.get(`Patient?_tag=urn:test|${tag}&${query}&_count=100`);
  expect([query, res.status]).toEqual([query, 200]);
  return ((res.body.entry ?? []) as Json[]).map((e) => ids[e.resource.id]).sort();
}

describe('string search across scripts and Unicode forms', () => {
  it.each([
    ['family=strasse', ['strasse']],
    ['family=STRASSE', ['strasse']],
    ['family=stra%C3%9Fe', ['strasse']],
    ['family=muller', ['mullerNfc', 'mullerNfd']],
    ['family=M%C3%BCLLER', ['mullerNfc', 'mullerNfd']],
    ['family=%CE%A0%CE%91%CE%A0%CE%91%CE%94%CE%8C%CE%A0%CE%9F%CE%A5%CE%9B%CE%9F%CE%A3', ['greek']], // ΠΑΠΑΔΌΠΟΥΛΟΣ (final Σ)
    ['family=%CF%80%CE%B1%CF%80%CE%B1%CE%B4%CE%BF%CF%80%CE%BF%CF%85%CE%BB%CE%BF%CF%82', ['greek']], // παπαδοπουλος with final ς
    ['family=%CE%9A%CF%89%CF%83', ['konstantinos']], // Κωσ, a prefix ending in σ
    ['family=%CE%BA%CF%89%CF%82%CF%84', ['konstantinos']], // κωςτ, a final sigma inside a word
    ['family=iildiz', ['turkish']],
    ['family=%E7%8E%8B', ['cjk']],
    ['family:contains=%E5%B0%8F%E6%98%8E', ['cjk']],
    ['family=asa', ['asaNfc']],
  ])('%s', async (query, expected) => {
    expect(await found(query)).toEqual(expected);
  });

  it(':exact matches the name as written, in either Unicode form, and not another case or spelling', async () => {
    expect(await found(`family:exact=${encodeURIComponent('M\u00fcller')}`)).toEqual(['mullerNfc', 'mullerNfd']);
    expect(await found(`family:exact=${encodeURIComponent('Mu\u0308ller')}`)).toEqual(['mullerNfc', 'mullerNfd']);
    expect(await found(`family:exact=${encodeURIComponent('A\u030asa')}`)).toEqual(['asaNfc']);
    expect(await found(`family:exact=${encodeURIComponent('Strasse')}`)).toEqual([]);
    expect(await found(`family:exact=${encodeURIComponent('müller')}`)).toEqual([]);
  });
});
