import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Response } from 'supertest';
import { FhirRequest, expectOutcome, linkPath } from '../helpers/fhir-request';
import { US_SSN, hasSynthea, identifierValue, itWithSynthea, syntheaBundleFiles } from '../helpers/synthea';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { norm, postTransaction } from '../helpers/search-fixtures';

/**
 * FHIR search, parameter by parameter: every parameter type with its prefixes and modifiers, OR
 * and AND, chains, reverse chains, system-level and POST searches. Five Synthea transaction Bundles
 * and a small set of resources made here (accented names, dates at every precision, quantities at
 * the edges of their ranges...) are loaded once; every expected result is computed in this file
 * from those resources as sent (with the ids the server assigned), never from the server's answers.
 * Paging, sorting, _total, _summary, _elements and _include live in search-paging.spec.ts.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const BUNDLES = ['Bethany_Hauck', 'Desmond_Gutmann', 'Edward_Gulgowski', 'Patria_Schimmel', 'Violet_Gerhold'];
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const CS = 'urn:search-spec:cs';
const SYNTHEA_TAG = 'https://smarthealthit.org/tags|synthea-5-2019';
const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

let t: TestApp;
let api: FhirRequest;

/** Every resource this suite stored, as sent, with the server's ids and references rewritten to them. */
const stored: Json[] = [];
const byRef = new Map<string, Json>();
/** The resources made here, by label. */
const own: Record<string, Json> = {};
/** The Synthea Patients by first name (Bethany, Desmond, Edward, Patria, Violet). */
const synPatient: Record<string, Json> = {};

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
  if (!hasSynthea()) return;
  for (const name of BUNDLES) {
    const file = syntheaBundleFiles().find((f) => path.basename(f).startsWith(`${name}_`));
    if (!file) throw new Error(`Synthea bundle ${name} is missing`);
    const resources = await transaction(JSON.parse(readFileSync(file, 'utf8')) as Json);
    synPatient[name.split('_')[0]] = resources.find((r) => r.resourceType === 'Patient') as Json;
  }
  await loadOwnResources();
}, 120_000);

afterAll(async () => {
  await t?.close();
});

// ---------------------------------------------------------------------------------------------
// Loading and the expected-result helpers (all computed here)
// ---------------------------------------------------------------------------------------------

const refOf = (r: Json) => `${r.resourceType}/${r.id}`;
const ofType = (type: string) => stored.filter((r) => r.resourceType === type);
const resolve = (ref: Json | undefined): Json | undefined => (typeof ref?.reference === 'string' ? byRef.get(ref.reference) : undefined);
const urn = () => `urn:uuid:${randomUUID()}`;

/** POSTs a transaction and records its resources with the ids from the transaction-response (same order). */
async function transaction(bundle: Json): Promise<Json[]> {
  const resources = await postTransaction(api, bundle);
  for (const r of resources) {
    stored.push(r);
    byRef.set(refOf(r), r);
  }
  return resources;
}


function nameParts(names: Json[] | undefined): string[] {
  return (names ?? []).flatMap((n) => [n.text, n.family, ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? [])]).filter((s): s is string => typeof s === 'string');
}

function addressParts(addresses: Json[] | undefined): string[] {
  return (addresses ?? []).flatMap((a) => [a.text, ...(a.line ?? []), a.city, a.district, a.state, a.postalCode, a.country]).filter((s): s is string => typeof s === 'string');
}

const strings = (parts: unknown[]) => parts.filter((p): p is string => typeof p === 'string');
const startsWith = (parts: unknown[], value: string) => strings(parts).some((p) => norm(p).startsWith(norm(value)));
const equalsNorm = (parts: unknown[], value: string) => strings(parts).some((p) => norm(p) === norm(value));

const codings = (cc: Json | undefined): Json[] => (cc?.coding as Json[] | undefined) ?? [];
const hasCoding = (cc: Json | undefined, system: string | undefined, code: string) =>
  codings(cc).some((c) => c.code === code && (system === undefined || c.system === system));

/** A FHIR date or dateTime as the half-open range [low, high) of ms it covers at its precision (UTC when no zone). */
function dateRange(text: string): [number, number] {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}))?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.exec(text);
  if (!m) throw new Error(`not a FHIR date: ${text}`);
  const [, y, mo, d, h, mi, s, ms, zone] = m;
  if (!mo) return [Date.UTC(+y, 0, 1), Date.UTC(+y + 1, 0, 1)];
  if (!d) return [Date.UTC(+y, +mo - 1, 1), Date.UTC(+y, +mo, 1)];
  if (!h) return [Date.UTC(+y, +mo - 1, +d), Date.UTC(+y, +mo - 1, +d + 1)];
  const low = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}${ms ? `.${ms}` : ''}${zone ?? 'Z'}`);
  return [low, low + (ms ? 1 : 1000)];
}

/** The range of a date, dateTime or Period element (open ends infinite). */
function valueRange(v: string | Json | undefined): [number, number] | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return dateRange(v);
  if (!v.start && !v.end) return undefined;
  return [v.start ? dateRange(v.start)[0] : -Infinity, v.end ? dateRange(v.end)[1] : Infinity];
}

/** The date search semantics over ranges: the search value [sl, sh) against the resource's [rl, rh). */
function dateMatches(query: string, r: [number, number] | undefined): boolean {
  if (!r) return false;
  const m = /^(eq|ne|gt|lt|ge|le|sa|eb)?(.+)$/.exec(query) as RegExpExecArray;
  const [sl, sh] = dateRange(m[2]);
  const [rl, rh] = r;
  const eq = rl >= sl && rh <= sh;
  switch (m[1] ?? 'eq') {
    case 'eq':
      return eq;
    case 'ne':
      return !eq;
    case 'gt':
      return rh > sh;
    case 'lt':
      return rl < sl;
    case 'ge':
      return rh > sh || eq;
    case 'le':
      return rl < sl || eq;
    case 'sa':
      return rl >= sh;
    case 'eb':
      return rh <= sl;
    default:
      throw new Error(query);
  }
}

const obsDate = (o: Json) => valueRange(o.effectiveDateTime ?? o.effectivePeriod ?? o.effectiveInstant);

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** GET a search (a path with a query, ASCII only: encode anything else) and check it is a searchset Bundle. */
async function search(query: string, headers: Record<string, string> = {}): Promise<Json> {
  if (/[^\x21-\x7e]/.test(query)) throw new Error(`encode the query first: ${query}`);
  let req = api.get(query);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  return searchset(await req, query);
}

function searchset(res: Response, what: string): Json {
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
  for (const e of (res.body.entry as Json[] | undefined) ?? []) {
    if (e.search?.mode === 'outcome') continue;
    expect(e.fullUrl).toBe(`${t.baseUrl}/fhir/${e.resource.resourceType}/${e.resource.id}`);
  }
  return res.body as Json;
}

const matchRefs = (bundle: Json): string[] =>
  ((bundle.entry as Json[] | undefined) ?? []).filter((e) => e.search?.mode === 'match').map((e) => refOf(e.resource));

/** The `Type/id` of every match of a search, on one page (sorted); the total must agree. */
async function found(query: string, headers: Record<string, string> = {}): Promise<string[]> {
  const q = /[?&]_count=/.test(query) ? query : `${query}${query.includes('?') ? '&' : '?'}_count=1000`;
  const bundle = await search(q, headers);
  expect((bundle.link as Json[]).find((l) => l.relation === 'next')).toBeUndefined();
  const refs = matchRefs(bundle);
  expect(bundle.total).toBe(refs.length);
  return refs.sort();
}

/**
 * Searches and compares with the expected resources. The expectation must be a proper subset of
 * the type's resources (so that a server ignoring the parameter fails), and not empty unless said.
 */
async function expectSearch(query: string, expected: Json[], opts: { empty?: boolean; headers?: Record<string, string> } = {}): Promise<void> {
  const type = query.split('?')[0];
  if (!opts.empty) expect(expected.length).toBeGreaterThan(0);
  expect(expected.length).toBeLessThan(ofType(type).length);
  const actual = await found(query, opts.headers);
  expect({ query, refs: actual }).toEqual({ query, refs: expected.map(refOf).sort() });
}

const enc = encodeURIComponent;

/** The match refs of every page of a search, following next links. */
async function allPages(query: string): Promise<string[]> {
  let bundle = await search(query);
  const refs = matchRefs(bundle);
  for (let pages = 1; ; pages++) {
    const next = (bundle.link as Json[]).find((l) => l.relation === 'next')?.url as string | undefined;
    if (!next) return refs;
    if (pages > 100) throw new Error('too many pages');
    bundle = searchset(await api.get(linkPath(next)), next);
    refs.push(...matchRefs(bundle));
  }
}

const labelOf = (ref: string) => Object.entries(own).find(([, r]) => refOf(r) === ref)?.[0] ?? ref;

// ---------------------------------------------------------------------------------------------
// The resources made here
// ---------------------------------------------------------------------------------------------

const DATE_EDGES: Record<string, Json> = {
  Y: { effectiveDateTime: '2010' },
  M: { effectiveDateTime: '2010-06' },
  D: { effectiveDateTime: '2010-06-15' },
  S: { effectiveDateTime: '2010-06-15T10:00:00Z' },
  Z: { effectiveDateTime: '2010-06-15T23:30:00-05:00' }, // 2010-06-16T04:30:00Z
  P: { effectivePeriod: { start: '2010-06-10', end: '2010-06-20' } },
  O: { effectivePeriod: { start: '2010-06-15T12:00:00Z' } }, // open end
  L: { effectivePeriod: { end: '2009-12-31' } }, // open start
  N: {}, // no date at all
};

const QUANTITIES: Record<string, Json> = {
  q100mg: { value: 100, unit: 'mg', system: UCUM, code: 'mg' },
  q99_5mg: { value: 99.5, unit: 'mg', system: UCUM, code: 'mg' },
  q100_5mg: { value: 100.5, unit: 'mg', system: UCUM, code: 'mg' },
  q99_4999mg: { value: 99.4999, unit: 'mg', system: UCUM, code: 'mg' },
  q100kg: { value: 100, unit: 'kg', system: UCUM, code: 'kg' },
  q100text: { value: 100, unit: 'mg' }, // unit text only
  q5milligram: { value: 5, unit: 'milligram', system: UCUM, code: 'mg' },
};

const PROBABILITIES: Record<string, number> = { r10: 0.1, r15: 0.15, r50: 0.5, r95: 0.95 };

/** Days from today (UTC midnight) as yyyy-mm-dd. */
function day(offset: number): string {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + offset)).toISOString().slice(0, 10);
}
const AP_BASE = -100; // the `ap` search value, 100 days ago
const AP_DAYS: Record<string, number> = { apA: AP_BASE - 5, apB: AP_BASE - 20, apC: AP_BASE + 8, apE: AP_BASE + 15, apY1: -1, apY2: -2, apT1: 1, apT2: 2 };

async function loadOwnResources(): Promise<void> {
  const entries: Array<{ label: string; fullUrl: string; resource: Json }> = [];
  const url = new Map<string, string>();
  const add = (label: string, resource: Json) => {
    const fullUrl = urn();
    url.set(label, fullUrl);
    entries.push({ label, fullUrl, resource });
  };
  const ref = (label: string) => ({ reference: url.get(label) });
  const obs = (code: string, extra: Json = {}): Json => ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: CS, code }] }, ...extra });

  add('prA', {
    resourceType: 'Practitioner',
    active: false,
    identifier: [{ system: 'urn:search-spec:npi', value: 'A-1' }],
    name: [{ family: 'Ångström', given: ['Zoë'], prefix: ['Dr.'] }],
    address: [{ city: 'São Paulo', country: 'BR' }],
  });
  add('patA', {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:search-spec:mrn', value: 'MRN,1' }],
    name: [{ family: 'Muñoz-Ångström', given: ['José', 'María'] }, { text: 'Pepe   del Río' }],
    telecom: [{ system: 'email', value: 'jose.munoz@example.org' }],
    gender: 'male',
    birthDate: '1970',
    address: [{ line: ['Rua Augusta 1500'], city: 'São Paulo', postalCode: '01304-001', country: 'BR' }],
    generalPractitioner: [ref('prA')],
  });
  add('patB', { resourceType: 'Patient', name: [{ family: 'MUNOZ', given: ['Josefina'] }], gender: 'female', birthDate: '1970-06-15' });
  add('orgAB', { resourceType: 'Organization', name: 'Alpha,Beta Clinic' });
  add('orgB', { resourceType: 'Organization', name: 'Beta Labs' });

  for (const [label, value] of Object.entries(DATE_EDGES)) add(`date${label}`, obs('date-edge', value));
  for (const [label, offset] of Object.entries(AP_DAYS)) add(label, obs('date-ap', { effectiveDateTime: day(offset) }));
  for (const [label, q] of Object.entries(QUANTITIES)) add(label, obs('qty', { subject: ref('patA'), valueQuantity: q }));
  add('obsNoSys', obs('x', { code: { coding: [{ code: 'nosys-1', display: 'Plain code' }] }, subject: ref('patA') }));
  add('obsSys', obs('nosys-1', { code: { coding: [{ system: CS, code: 'nosys-1', display: 'System code' }] }, subject: ref('patA') }));
  add('obsTextOnly', obs('x', { code: { text: 'Glucose tolerance (special)' }, subject: ref('patA') }));
  add('obsPerformer', obs('performer', { subject: ref('patA'), performer: [{ identifier: { system: 'urn:search-spec:npi', value: 'P-77' }, display: 'Dr. External' }] }));
  add('obsMeta', {
    ...obs('meta', { subject: ref('patB') }),
    meta: {
      profile: ['http://example.org/StructureDefinition/spec-obs'],
      security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }],
      source: 'http://example.org/source-a',
    },
  });
  for (const [label, p] of Object.entries(PROBABILITIES)) {
    add(label, { resourceType: 'RiskAssessment', status: 'final', subject: ref('patA'), prediction: [{ outcome: { text: label }, probabilityDecimal: p }] });
  }
  add('drPerformer', {
    resourceType: 'DiagnosticReport',
    status: 'final',
    code: { text: 'Outside report' },
    subject: ref('patB'),
    performer: [{ identifier: { system: 'urn:search-spec:npi', value: 'D-9' }, display: 'Outside lab' }],
  });
  add('vsA', { resourceType: 'ValueSet', status: 'draft', url: 'http://example.org/fhir/ValueSet/search-a' });
  add('vsAB', { resourceType: 'ValueSet', status: 'draft', url: 'http://example.org/fhir/ValueSet/search-a/b' });
  add('vsAx', { resourceType: 'ValueSet', status: 'draft', url: 'http://example.org/fhir/ValueSet/search-ax' });
  add('vsOther', { resourceType: 'ValueSet', status: 'draft', url: 'http://example.org/other/ValueSet/x' });

  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: entries.map((e) => ({ fullUrl: e.fullUrl, resource: e.resource, request: { method: 'POST', url: e.resource.resourceType } })),
  };
  const resources = await transaction(bundle);
  entries.forEach((e, i) => (own[e.label] = resources[i]));
}

const labels = (...names: string[]) => names.map((n) => own[n]);
const dateEdges = (...names: string[]) => names.map((n) => own[`date${n}`]);

// ---------------------------------------------------------------------------------------------

const it_ = itWithSynthea();

describe('search basics', () => {
  it_('answers a searchset whose entries have fullUrl and search.mode match, with an exact total', async () => {
    const bundle = await search('Observation?_count=5');
    expect(bundle.total).toBe(ofType('Observation').length);
    expect(bundle.entry).toHaveLength(5);
    for (const e of bundle.entry as Json[]) expect(e.search).toEqual({ mode: 'match' });
    const self = (bundle.link as Json[]).find((l) => l.relation === 'self');
    expect(self?.url).toMatch(new RegExp(`^${t.baseUrl}/fhir/Observation\\?`));
  });

  it_('_id with one and several ids', async () => {
    await expectSearch(`Patient?_id=${synPatient.Edward.id}`, [synPatient.Edward]);
    await expectSearch(`Patient?_id=${synPatient.Edward.id},${synPatient.Violet.id}`, [synPatient.Edward, synPatient.Violet]);
  });

  it_('_count above the maximum of 1000 is a 400 OperationOutcome; 1000 is accepted', async () => {
    expectOutcome(await api.get('Observation?_count=1001'), 400);
    const bundle = await search('Observation?_count=1000');
    expect(bundle.entry).toHaveLength(ofType('Observation').length);
  });

  it_('an unknown parameter is ignored with a warning entry (search.mode outcome), and refused under Prefer: handling=strict', async () => {
    const expected = ofType('Observation').filter((o) => hasCoding(o.code, LOINC, '2093-3'));
    const bundle = await search(`Observation?code=${LOINC}|2093-3&no-such-param=1&_count=1000`);
    expect(matchRefs(bundle).sort()).toEqual(expected.map(refOf).sort());
    const outcomes = (bundle.entry as Json[]).filter((e) => e.search?.mode === 'outcome');
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0].resource.resourceType).toBe('OperationOutcome');
    expect(outcomes[0].resource.issue[0].severity).toBe('warning');
    expect(JSON.stringify(outcomes[0].resource)).toContain('no-such-param');
    // The self link names the parameters used, not the ignored one.
    const self = (bundle.link as Json[]).find((l) => l.relation === 'self')?.url as string;
    expect(self).not.toContain('no-such-param');

    const strict = await api.get(`Observation?code=${LOINC}|2093-3&no-such-param=1`).set('Prefer', 'handling=strict');
    expectOutcome(strict, 400);
    expect(JSON.stringify(strict.body)).toContain('no-such-param');
  });
});

describe('ignored parameters and the self link', () => {
  it_('an ignored parameter with a modifier, or in a reverse chain, is left out of the links too', async () => {
    const expected = ofType('Observation').filter((o) => hasCoding(o.code, CS, 'date-edge')).map(refOf).sort();
    const cases = ['no-such-param:exact=1', '_has:DiagnosticReport:result:no-such-param=1', 'subject.no-such-param=1'];
    const selfParams: Array<{ ignored: string; params: string[] }> = [];
    for (const ignored of cases) {
      const bundle = await search(`Observation?code=${CS}|date-edge&${ignored}&_count=100`);
      expect(matchRefs(bundle).sort()).toEqual(expected);
      const outcomes = ((bundle.entry as Json[]) ?? []).filter((e) => e.search?.mode === 'outcome');
      expect(outcomes).toHaveLength(1);
      expect(outcomes[0].resource.issue[0].severity).toBe('warning');
      const self = new URL((bundle.link as Json[]).find((l) => l.relation === 'self')?.url as string);
      selfParams.push({ ignored, params: [...self.searchParams.keys()].sort() });
    }
    expect(selfParams).toEqual(cases.map((ignored) => ({ ignored, params: ['_count', 'code'] })));
  });
});

describe('refusals', () => {
  it_('an unknown modifier, a malformed date or number, a bad cursor are 400 OperationOutcomes', async () => {
    for (const query of ['Patient?name:foo=x', 'Patient?gender:exact=male', 'Observation?date=2010-13', 'Observation?date=xx2010', 'RiskAssessment?probability=abc', 'Observation?_cursor=not-a-cursor']) {
      const res = await api.get(query);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expectOutcome(res, 400);
    }
  });
});

describe('string parameters', () => {
  const patients = () => ofType('Patient');

  it_('match when a name part starts with the value, case and accents folded', async () => {
    for (const value of ['beth', 'GUL', 'wuckert', 'mrs', 'munoz', 'MUÑOZ', 'jose', 'zoe', 'pepe']) {
      const expected = patients().filter((p) => startsWith(nameParts(p.name), value));
      await expectSearch(`Patient?name=${enc(value)}`, expected, { empty: value === 'zoe' }); // Zoë is a practitioner
    }
    // Hand-checked: accents and case folded on both sides, each part separately.
    expect(await found(`Patient?name=${enc('MUÑOZ')}`)).toEqual([own.patA, own.patB].map(refOf).sort());
    expect(await found(`Patient?given=${enc('JOSÉ')}`)).toEqual([own.patA, own.patB].map(refOf).sort());
    expect(await found(`Practitioner?name=zoe`)).toEqual([refOf(own.prA)]);
    expect(await found(`Practitioner?family=angstrom`)).toEqual([refOf(own.prA)]);
    // A part, not a word inside it: "Pepe del Río" is the text part, "rio" starts none.
    expect(await found(`Patient?name=rio`)).toEqual([]);
  });

  it_('family and given are separate parameters; a maiden name is a family too', async () => {
    await expectSearch('Patient?family=corkery', [synPatient.Patria]);
    await expectSearch('Patient?family=patria', [], { empty: true });
    await expectSearch('Patient?given=patria', [synPatient.Patria]);
  });

  it_('runs of white space are collapsed on both sides', async () => {
    await expectSearch(`Patient?name=${enc('pepe   del')}`, [own.patA]);
    await expectSearch(`Patient?name=${enc('pepe del r')}`, [own.patA]);
  });

  it_(':exact compares a whole part as written (case and accents matter)', async () => {
    await expectSearch(`Patient?family:exact=${enc('Muñoz-Ångström')}`, [own.patA]);
    await expectSearch('Patient?family:exact=MUNOZ', [own.patB]);
    await expectSearch('Patient?family:exact=Munoz', [], { empty: true });
    await expectSearch(`Patient?given:exact=${enc('José')}`, [own.patA]);
    await expectSearch('Patient?given:exact=Jose', [], { empty: true });
    await expectSearch('Patient?name:exact=Gulgowski', [synPatient.Edward]);
    await expectSearch('Patient?name:exact=Gulgow', [], { empty: true });
  });

  it_(':contains matches anywhere in a normalised part', async () => {
    const value = 'ngstr';
    const expected = patients().filter((p) => nameParts(p.name).some((n) => norm(n).includes(value)));
    await expectSearch(`Patient?name:contains=${value}`, expected);
    expect(expected).toEqual([own.patA]);
    await expectSearch(`Patient?name:contains=${enc('DEL RÍO')}`, [own.patA]);
    const er = patients().filter((p) => strings((p.name ?? []).map((n: Json) => n.family)).some((n) => norm(n).includes('er')));
    expect(er.length).toBeGreaterThan(1);
    await expectSearch('Patient?family:contains=ER', er);
  });

  it_('OR with commas, AND by repeating; \\, escapes a comma', async () => {
    await expectSearch('Patient?name=bethany,edward', [synPatient.Bethany, synPatient.Edward]);
    await expectSearch('Patient?name=patria&name=corkery', [synPatient.Patria]);
    await expectSearch('Patient?name=patria&name=hauck', [], { empty: true });
    const orgs = ofType('Organization');
    await expectSearch('Organization?name=alpha\\,beta', orgs.filter((o) => startsWith([o.name], 'alpha,beta')));
    expect(await found('Organization?name=alpha\\,beta')).toEqual([refOf(own.orgAB)]);
    await expectSearch(
      'Organization?name=alpha,beta',
      orgs.filter((o) => startsWith([o.name], 'alpha') || startsWith([o.name], 'beta')),
    );
    expect(await found('Organization?name=alpha,beta')).toEqual([own.orgAB, own.orgB].map(refOf).sort());
  });

  it_('LIKE wildcards in a value are literal; :exact with an escaped comma', async () => {
    await expectSearch('Patient?name:contains=_', [], { empty: true });
    await expectSearch('Patient?name=%25', [], { empty: true });
    await expectSearch('Organization?name:contains=%25', [], { empty: true });
    await expectSearch('Organization?name:exact=Alpha\\,Beta%20Clinic', [own.orgAB]);
  });

  it_('address parts match by prefix on types that are not encrypted', async () => {
    const practitioners = ofType('Practitioner');
    await expectSearch('Practitioner?address-city=chelm', practitioners.filter((p) => startsWith((p.address ?? []).map((a: Json) => a.city), 'chelm')));
    await expectSearch(`Practitioner?address-city=${enc('são')}`, [own.prA]);
    const orgs = ofType('Organization');
    await expectSearch('Organization?address-city=BOST', orgs.filter((o) => startsWith((o.address ?? []).map((a: Json) => a.city), 'bost')));
    await expectSearch('Organization?address=highland', orgs.filter((o) => startsWith(addressParts(o.address), 'highland')), { empty: true });
  });
});

describe('encrypted types: identifier, telecom and address are matched by keyed hash (whole values)', () => {
  const patients = () => ofType('Patient');
  const cityIs = (city: string) => patients().filter((p) => equalsNorm((p.address ?? []).map((a: Json) => a.city), city));

  it_('identifier=system|value finds the patient by SSN; a value alone works too; no prefix match', async () => {
    const ssn = identifierValue(synPatient.Edward, US_SSN) as string;
    expect(ssn).toMatch(/^999-/);
    await expectSearch(`Patient?identifier=${US_SSN}|${ssn}`, [synPatient.Edward]);
    await expectSearch(`Patient?identifier=${ssn}`, [synPatient.Edward]);
    await expectSearch(`Patient?identifier=${US_SSN}|${ssn.slice(0, 6)}`, [], { empty: true });
    await expectSearch(`Patient?identifier=http://example.org/other|${ssn}`, [], { empty: true });
    const ssnViolet = identifierValue(synPatient.Violet, US_SSN) as string;
    await expectSearch(`Patient?identifier=${US_SSN}|${ssn},${US_SSN}|${ssnViolet}`, [synPatient.Edward, synPatient.Violet]);
  });

  it_('identifier=system| finds every patient with an identifier in the system; :not the others', async () => {
    const withSsn = patients().filter((p) => (p.identifier ?? []).some((i: Json) => i.system === US_SSN));
    await expectSearch(`Patient?identifier=${US_SSN}|`, withSsn);
    const ssn = identifierValue(synPatient.Edward, US_SSN) as string;
    await expectSearch(`Patient?identifier:not=${US_SSN}|${ssn}`, patients().filter((p) => p !== synPatient.Edward));
  });

  it_('an escaped comma inside an identifier value', async () => {
    await expectSearch('Patient?identifier=urn:search-spec:mrn|MRN\\,1', [own.patA]);
  });

  it_('phone and email by whole value', async () => {
    const phone = (synPatient.Edward.telecom as Json[]).find((c) => c.system === 'phone')?.value as string;
    await expectSearch(`Patient?phone=${phone}`, patients().filter((p) => (p.telecom ?? []).some((c: Json) => c.system === 'phone' && c.value === phone)));
    await expectSearch(`Patient?phone=${phone.slice(0, 7)}`, [], { empty: true });
    await expectSearch('Patient?email=jose.munoz@example.org', [own.patA]);
    await expectSearch(`Patient?telecom=${phone}`, [synPatient.Edward]);
    await expectSearch('Patient?identifier:missing=true', patients().filter((p) => !p.identifier?.length));
    await expectSearch('Patient?phone:missing=true', patients().filter((p) => !(p.telecom ?? []).some((c: Json) => c.system === 'phone')));
  });

  it_('address-city with the full city (case and accents folded) matches; a prefix does not; :contains, :exact, identifier:text and _sort by them are refused', async () => {
    const chelmsford = cityIs('Chelmsford');
    expect(chelmsford.map(refOf).sort()).toEqual([synPatient.Edward, synPatient.Violet].map(refOf).sort());
    await expectSearch('Patient?address-city=Chelmsford', chelmsford);
    await expectSearch('Patient?address-city=CHELMSFORD', chelmsford);
    await expectSearch('Patient?address-city=Chelm', [], { empty: true });
    // Whole values only: a modifier that would need the plain text is a 400, not an empty result.
    // So is a sort by them: their index holds keyed hashes only, and the page came back in id order.
    for (const q of ['address-city:contains=helmsford', 'address:contains=chelmsford', 'address-city:exact=Chelmsford', 'identifier:text=Social', '_sort=address-city', '_sort=-phone', '_sort=identifier']) {
      const body = expectOutcome(await api.get(`Patient?${q}`), 400);
      expect(JSON.stringify(body)).toMatch(/encrypted at rest/);
    }
    await expectSearch(`Patient?address-city=${enc('sao  PAULO')}`, [own.patA]);
    await expectSearch(`Patient?address-city=${enc('São')}`, [], { empty: true });
  });

  it_('address, address-postalcode and address-state by whole part', async () => {
    await expectSearch('Patient?address=chelmsford', patients().filter((p) => equalsNorm(addressParts(p.address), 'chelmsford')));
    await expectSearch('Patient?address-postalcode=01824', patients().filter((p) => (p.address ?? []).some((a: Json) => a.postalCode === '01824')));
    await expectSearch('Patient?address-state=massachusetts', patients().filter((p) => equalsNorm((p.address ?? []).map((a: Json) => a.state), 'massachusetts')));
    await expectSearch('Patient?address-state=mass', [], { empty: true });
  });
});

describe('token parameters', () => {
  const observations = () => ofType('Observation');

  it_('code, system|code, |code (no system) and system| (any code)', async () => {
    await expectSearch('Observation?code=8302-2', observations().filter((o) => hasCoding(o.code, undefined, '8302-2')));
    await expectSearch(`Observation?code=${LOINC}|8302-2`, observations().filter((o) => hasCoding(o.code, LOINC, '8302-2')));
    await expectSearch(`Observation?code=http://snomed.info/sct|8302-2`, [], { empty: true });
    await expectSearch('Observation?code=nosys-1', [own.obsNoSys, own.obsSys]);
    await expectSearch('Observation?code=|nosys-1', observations().filter((o) => codings(o.code).some((c) => c.code === 'nosys-1' && c.system === undefined)));
    expect(await found('Observation?code=|nosys-1')).toEqual([refOf(own.obsNoSys)]);
    await expectSearch(`Observation?code=${CS}|`, observations().filter((o) => codings(o.code).some((c) => c.system === CS)));
    await expectSearch(`Observation?code=${LOINC}|`, observations().filter((o) => codings(o.code).some((c) => c.system === LOINC)));
  });

  it_('tokens are case-sensitive', async () => {
    await expectSearch('Observation?code=NOSYS-1', [], { empty: true });
    await expectSearch('Patient?gender=MALE', [], { empty: true });
    await expectSearch('Patient?gender=male', ofType('Patient').filter((p) => p.gender === 'male'));
  });

  it_('a code element is in the code system of its required binding: system|code and code match, |code does not', async () => {
    // search.html, token: for a `code` the system is the implicit code system of the element's
    // binding (Patient.gender: administrative-gender, Observation.status: observation-status).
    const GENDER = 'http://hl7.org/fhir/administrative-gender';
    const patients = ofType('Patient');
    const female = patients.filter((p) => p.gender === 'female');
    await expectSearch(`Patient?gender=${GENDER}|female`, female);
    await expectSearch('Patient?gender=female', female);
    await expectSearch('Patient?gender=|female', [], { empty: true });
    await expectSearch('Patient?gender=http://example.org/other|female', [], { empty: true });
    // Every Patient here has a gender (so not through expectSearch, which wants a proper subset).
    expect(await found(`Patient?gender=${GENDER}|`)).toEqual(patients.filter((p) => p.gender !== undefined).map(refOf).sort());
    expect(await found('Patient?gender=http://example.org/other|')).toEqual([]);
    await expectSearch(`Patient?gender:not=${GENDER}|male`, patients.filter((p) => p.gender !== 'male'));
    await expectSearch(`Patient?gender=${GENDER}|female,${GENDER}|other`, patients.filter((p) => p.gender === 'female' || p.gender === 'other'));
    const OBS_STATUS = 'http://hl7.org/fhir/observation-status';
    const observations = ofType('Observation');
    await expectSearch(`Observation?status=${OBS_STATUS}|final&code=${CS}|nosys-1`, [own.obsSys]);
    await expectSearch('Observation?status=|final', [], { empty: true });
    const notFinal = observations.filter((o) => o.status !== 'final');
    await expectSearch(`Observation?status:not=${OBS_STATUS}|final`, notFinal, { empty: !notFinal.length });
    // A chain ends on it too (patB is female; obsMeta is about her). _sort by it: search-paging.spec.ts.
    expect(own.patB.gender).toBe('female');
    await expectSearch(`Observation?subject:Patient.gender=${GENDER}|female&code=${CS}|meta`, [own.obsMeta]);
  });

  it_('OR and AND of tokens', async () => {
    const edward = `Patient/${synPatient.Edward.id}`;
    await expectSearch(
      `Observation?code=${LOINC}|8302-2,${LOINC}|29463-7&subject=${edward}`,
      observations().filter((o) => o.subject?.reference === edward && (hasCoding(o.code, LOINC, '8302-2') || hasCoding(o.code, LOINC, '29463-7'))),
    );
    // Both codes on one Observation: none has two codes.
    await expectSearch(`Observation?code=${LOINC}|8302-2&code=${LOINC}|29463-7`, [], { empty: true });
  });

  it_(':not keeps resources without a matching token, those without the element included', async () => {
    const vital = `${OBS_CATEGORY}|vital-signs`;
    const expected = observations().filter((o) => !(o.category ?? []).some((cc: Json) => hasCoding(cc, OBS_CATEGORY, 'vital-signs')));
    expect(expected).toEqual(expect.arrayContaining([own.dateY, own.obsNoSys])); // no category at all
    await expectSearch(`Observation?category:not=${vital}`, expected);
    await expectSearch('Patient?gender:not=male', ofType('Patient').filter((p) => p.gender !== 'male'));
    await expectSearch('Patient?gender:not=male,other', ofType('Patient').filter((p) => p.gender !== 'male' && p.gender !== 'other'));
  });

  it_(':text matches a word of a display or of the text, case and accents folded', async () => {
    const words = (o: Json) => [...codings(o.code).map((c) => c.display), o.code?.text].filter(Boolean).flatMap((s: string) => norm(s).split(' '));
    for (const value of ['cholesterol', 'CHOL', 'density', 'pressure', 'tolérance']) {
      await expectSearch(`Observation?code:text=${enc(value)}`, observations().filter((o) => words(o).some((w) => w.startsWith(norm(value)))));
    }
    expect(await found('Observation?code:text=tolerance')).toEqual([refOf(own.obsTextOnly)]);
    await expectSearch('Observation?code:text=olesterol', [], { empty: true });
  });

  it_(':missing=true|false', async () => {
    await expectSearch('Observation?category:missing=true', observations().filter((o) => !o.category?.length));
    await expectSearch('Observation?category:missing=false', observations().filter((o) => o.category?.length));
    await expectSearch('Observation?value-quantity:missing=true', observations().filter((o) => !o.valueQuantity));
    await expectSearch('Observation?value-quantity:missing=false', observations().filter((o) => o.valueQuantity));
  });

  it_('boolean elements index as true and false', async () => {
    const practitioners = ofType('Practitioner');
    await expectSearch('Practitioner?active=false', practitioners.filter((p) => p.active === false));
    await expectSearch('Practitioner?active=true', practitioners.filter((p) => p.active === true));
  });

  it_('identifiers of a type that is not encrypted (in clear): duplicates across bundles are all found', async () => {
    const npi = 'http://hl7.org/fhir/sid/us-npi';
    const practitioners = ofType('Practitioner');
    const value = '240';
    const expected = practitioners.filter((p) => (p.identifier ?? []).some((i: Json) => i.system === npi && i.value === value));
    expect(expected).toHaveLength(2); // the same practitioner sent by two bundles
    await expectSearch(`Practitioner?identifier=${npi}|${value}`, expected);
  });

  it_('_tag, _security and _profile / _source (uri) from meta', async () => {
    await expectSearch(`Observation?_tag=${SYNTHEA_TAG}`, observations().filter((o) => o.meta?.tag?.length));
    await expectSearch(`Observation?_tag:not=${SYNTHEA_TAG}`, observations().filter((o) => !o.meta?.tag?.length));
    await expectSearch('Observation?_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R', [own.obsMeta]);
    await expectSearch('Observation?_profile=http://example.org/StructureDefinition/spec-obs', [own.obsMeta]);
    await expectSearch('Observation?_source=http://example.org/source-a', [own.obsMeta]);
  });
});

describe('date parameters', () => {
  /** Date searches over the edge resources only (their code), with the expectation worked out by hand. */
  async function edges(query: string, expected: string[]): Promise<void> {
    const actual = await found(`Observation?code=${CS}|date-edge&${query}`);
    expect({ query, labels: actual.map((r) => labelOf(r)).sort() }).toEqual({ query, labels: expected.map((l) => `date${l}`).sort() });
    // The rules written out in this file agree with the hand-worked expectation.
    const computed = dateEdges(...Object.keys(DATE_EDGES)).filter((o) => query.split('&').every((q) => decodeURIComponent(q.split('=')[1]).split(',').some((v) => dateMatches(v, obsDate(o)))));
    expect(computed.map(refOf).sort()).toEqual(dateEdges(...expected).map(refOf).sort());
  }

  it_('eq at year, month, day and second precision, and with a time zone', async () => {
    await edges('date=2010', ['Y', 'M', 'D', 'S', 'Z', 'P']);
    await edges('date=2010-06', ['M', 'D', 'S', 'Z', 'P']);
    await edges('date=2010-06-15', ['D', 'S']);
    await edges('date=eq2010-06-15', ['D', 'S']);
    await edges('date=2010-06-16', ['Z']); // 23:30 at -05:00 is the next day in UTC
    await edges('date=2010-06-15T10:00:00Z', ['S']);
    await edges('date=2010-06-15T10:00:00', ['S']); // no zone: UTC
    await edges('date=2010-06-15T23:30:00-05:00', ['Z']);
    await edges('date=2010-06-16T04:30:00Z', ['Z']);
    await edges('date=2010-06-16T09:30:00%2B05:00', ['Z']);
    await edges('date=2010-06-12', []); // inside the Period, which is not inside the day
  });

  it_('ne, gt, lt, ge, le, sa, eb', async () => {
    await edges('date=ne2010-06-15', ['Y', 'M', 'Z', 'P', 'O', 'L']);
    await edges('date=gt2010-06-15', ['Y', 'M', 'Z', 'P', 'O']);
    await edges('date=lt2010-06-15', ['Y', 'M', 'P', 'L']);
    await edges('date=ge2010-06-15', ['Y', 'M', 'D', 'S', 'Z', 'P', 'O']);
    await edges('date=le2010-06-15', ['Y', 'M', 'D', 'S', 'P', 'L']);
    await edges('date=sa2010-06-15', ['Z']);
    await edges('date=eb2010-06-15', ['L']);
    await edges('date=sa2009', ['Y', 'M', 'D', 'S', 'Z', 'P', 'O']);
    await edges('date=eb2011', ['Y', 'M', 'D', 'S', 'Z', 'P', 'L']);
    await edges('date=gt2010', ['O']);
    await edges('date=lt2010', ['L']);
    await edges('date=ge2010-06-15T10:00:00Z', ['Y', 'M', 'D', 'S', 'Z', 'P', 'O']);
    await edges('date=le2010-06-15T10:00:00Z', ['Y', 'M', 'D', 'S', 'P', 'L']);
    await edges('date=gt2010-06-15T10:00:00Z', ['Y', 'M', 'D', 'Z', 'P', 'O']);
    await edges('date=lt2010-06-15T10:00:00Z', ['Y', 'M', 'D', 'P', 'L']);
  });

  it_('OR of dates, AND of a range, :missing', async () => {
    await edges('date=2010-06-15,2010-06-16', ['D', 'S', 'Z']);
    await edges('date=ge2010-06-01&date=lt2010-06-16', ['Y', 'M', 'D', 'S', 'P', 'O']);
    expect(await found(`Observation?code=${CS}|date-edge&date:missing=true`)).toEqual([refOf(own.dateN)]);
    expect(await found(`Observation?code=${CS}|date-edge&date:missing=false`)).toEqual(dateEdges('Y', 'M', 'D', 'S', 'Z', 'P', 'O', 'L').map(refOf).sort());
  });

  it_('ap widens the search range by 10% of its distance from now, at least a day', async () => {
    expect(await found(`Observation?code=${CS}|date-ap&date=ap${day(AP_BASE)}`)).toEqual(labels('apA', 'apC').map(refOf).sort());
    expect(await found(`Observation?code=${CS}|date-ap&date=ap${day(0)}`)).toEqual(labels('apY1', 'apT1').map(refOf).sort());
  });

  it_('over the Synthea data: prefixes, AND ranges and OR, on Observation, Patient and Encounter', async () => {
    const obs = ofType('Observation');
    for (const q of ['2015', 'ge2015-06', 'lt2012-03', 'sa2020-06-01', 'eb2011-12', 'ne2016']) {
      await expectSearch(`Observation?date=${q}`, obs.filter((o) => dateMatches(q, obsDate(o))));
    }
    await expectSearch('Observation?date=ge2012&date=lt2014-03', obs.filter((o) => dateMatches('ge2012', obsDate(o)) && dateMatches('lt2014-03', obsDate(o))));
    await expectSearch('Observation?date=1980,2019-08', obs.filter((o) => dateMatches('1980', obsDate(o)) || dateMatches('2019-08', obsDate(o))));
    const patients = ofType('Patient');
    for (const q of ['1970', '1970-06', 'lt1970-06-15', 'ge1992-09-13', 'gt1992-09-13']) {
      await expectSearch(`Patient?birthdate=${q}`, patients.filter((p) => dateMatches(q, valueRange(p.birthDate))));
    }
    const encounters = ofType('Encounter');
    await expectSearch('Encounter?date=2017', encounters.filter((e) => dateMatches('2017', valueRange(e.period))));
  });

  it_('_sort by a date: the low end ascending, the high end descending, open ends infinite, no date last; paged through', async () => {
    const orders: Array<[string, string[]]> = [
      ['date', ['L', 'Y', 'M', 'P', 'D', 'S', 'O', 'Z', 'N']],
      ['-date', ['O', 'Y', 'M', 'P', 'Z', 'D', 'S', 'L', 'N']],
    ];
    for (const [spec, order] of orders) {
      const expected = order.map((l) => `date${l}`);
      const one = matchRefs(await search(`Observation?code=${CS}|date-edge&_sort=${spec}&_count=100`));
      expect({ spec, order: one.map(labelOf) }).toEqual({ spec, order: expected });
      const paged = await allPages(`Observation?code=${CS}|date-edge&_sort=${spec}&_count=2`);
      expect({ spec, order: paged.map(labelOf) }).toEqual({ spec, order: expected });
    }
  });

  it_('the index follows updates and deletes', async () => {
    const [made] = await transaction(txOf([{ ...obsOf('upd', 'first'), effectiveDateTime: '2011-01-01' }]));
    expect(await found(`Observation?code=${CS}|upd&date=2011`)).toEqual([refOf(made)]);
    const changed = { ...made, effectiveDateTime: '2012-05-05' };
    const put = await api.put(`Observation/${made.id}`, changed);
    expect(put.status).toBe(200);
    Object.assign(made, changed);
    expect(await found(`Observation?code=${CS}|upd&date=2011`)).toEqual([]);
    expect(await found(`Observation?code=${CS}|upd&date=2012-05`)).toEqual([refOf(made)]);
    expect((await api.delete(`Observation/${made.id}`)).status).toBe(200);
    stored.splice(stored.indexOf(made), 1);
    expect(await found(`Observation?code=${CS}|upd`)).toEqual([]);
    expect(await found(`Observation?_id=${made.id}`)).toEqual([]);
  });

  it_('_lastUpdated with prefixes', async () => {
    const before = (await transaction(txOf([obsOf('lu', 'before')])))[0];
    await sleep(60);
    const mark = new Date().toISOString();
    await sleep(60);
    const after = (await transaction(txOf([obsOf('lu', 'after')])))[0];
    expect(await found(`Observation?code=${CS}|lu&_lastUpdated=lt${mark}`)).toEqual([refOf(before)]);
    expect(await found(`Observation?code=${CS}|lu&_lastUpdated=gt${mark}`)).toEqual([refOf(after)]);
    expect(await found(`Observation?code=${CS}|lu&_lastUpdated=ge${mark.slice(0, 4)}`)).toEqual([before, after].map(refOf).sort());
    expect(await found(`Observation?code=${CS}|lu&_lastUpdated=lt2000`)).toEqual([]);
  });

  it_('_lastUpdated in a chain and in a reverse chain (read from the stored target or source)', async () => {
    const tx = txOf([{ resourceType: 'Patient', name: [{ family: 'Luchain' }] }, obsOf('luc', 'early')]);
    tx.entry[1].resource.subject = { reference: tx.entry[0].fullUrl };
    const [early, earlyObs] = await transaction(tx);
    await sleep(60);
    const mark = new Date().toISOString();
    await sleep(60);
    const [lateObs] = await transaction(txOf([{ ...obsOf('luc', 'late'), subject: { reference: refOf(early) } }]));
    expect(await found(`Observation?code=${CS}|luc&subject._lastUpdated=lt${mark}`)).toEqual([earlyObs, lateObs].map(refOf).sort());
    expect(await found(`Observation?code=${CS}|luc&subject:Patient._lastUpdated=gt${mark}`)).toEqual([]);
    expect(await found(`Patient?_id=${early.id}&_has:Observation:subject:_lastUpdated=gt${mark}`)).toEqual([refOf(early)]);
    expect(await found(`Patient?_id=${early.id}&_has:Observation:subject:_lastUpdated=lt2000`)).toEqual([]);
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const obsOf = (code: string, note: string): Json => ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: CS, code }], text: note } });
const txOf = (resources: Json[]): Json => ({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: resources.map((resource) => ({ fullUrl: urn(), resource, request: { method: 'POST', url: resource.resourceType } })),
});

describe('number and quantity parameters', () => {
  async function risks(query: string, expected: string[]): Promise<void> {
    const actual = await found(`RiskAssessment?${query}`);
    expect({ query, refs: actual }).toEqual({ query, refs: labels(...expected).map(refOf).sort() });
  }

  it_('number: the value stands for the range of its significant figures for eq/ne; the others compare the value', async () => {
    expect(ofType('RiskAssessment')).toHaveLength(4);
    await risks('probability=0.5', ['r50']);
    await risks('probability=0.1', ['r10']); // [0.05, 0.15): 0.15 is out
    await risks('probability=0.2', ['r15']); // [0.15, 0.25): 0.15 is in
    await risks('probability=0.15', ['r15']);
    await risks('probability=0.05', []);
    await risks('probability=1', ['r50', 'r95']); // [0.5, 1.5)
    await risks('probability=1e-1', ['r10']);
    await risks('probability=ne0.5', ['r10', 'r15', 'r95']);
    await risks('probability=ne1', ['r10', 'r15']);
    await risks('probability=gt0.15', ['r50', 'r95']);
    await risks('probability=ge0.15', ['r15', 'r50', 'r95']);
    await risks('probability=lt0.15', ['r10']);
    await risks('probability=le0.15', ['r10', 'r15']);
    await risks('probability=sa0.5', ['r95']);
    await risks('probability=eb0.5', ['r10', 'r15']);
    await risks('probability=ap0.5', ['r50']);
    await risks('probability=0.1,0.95', ['r10', 'r95']);
    await risks('probability=gt0.1&probability=lt0.9', ['r15', 'r50']);
    expect(matchRefs(await search('RiskAssessment?_sort=-probability'))).toEqual(labels('r95', 'r50', 'r15', 'r10').map(refOf));
    expect(matchRefs(await search('RiskAssessment?_sort=probability&_count=3'))).toEqual(labels('r10', 'r15', 'r50').map(refOf));
  });

  async function qty(query: string, expected: string[]): Promise<void> {
    const actual = await found(`Observation?code=${CS}|qty&${query}`);
    expect({ query, refs: actual }).toEqual({ query, refs: labels(...expected).map(refOf).sort() });
  }

  it_('quantity: prefixes and significant figures', async () => {
    await qty('value-quantity=100', ['q100mg', 'q99_5mg', 'q100kg', 'q100text']);
    await qty('value-quantity=100.0', ['q100mg', 'q100kg', 'q100text']);
    await qty('value-quantity=gt100', ['q100_5mg']);
    await qty('value-quantity=ge100', ['q100mg', 'q100_5mg', 'q100kg', 'q100text']);
    await qty('value-quantity=lt100', ['q99_5mg', 'q99_4999mg', 'q5milligram']);
    await qty('value-quantity=le99.5', ['q99_5mg', 'q99_4999mg', 'q5milligram']);
    await qty('value-quantity=ne100', ['q100_5mg', 'q99_4999mg', 'q5milligram']);
    await qty('value-quantity=sa100', ['q100_5mg']);
    // 99.5 stands for [99.45, 99.55): 99.4999 lies in it, so it does not end before it (search.html#prefix).
    await qty('value-quantity=eb99.5', ['q5milligram']);
    await qty('value-quantity=ap100', ['q100mg', 'q99_5mg', 'q100_5mg', 'q99_4999mg', 'q100kg', 'q100text']);
    // sorted by value; the three at 100 by id
    const at100 = labels('q100mg', 'q100kg', 'q100text').map(refOf).sort();
    const ascending = [refOf(own.q5milligram), refOf(own.q99_4999mg), refOf(own.q99_5mg), ...at100, refOf(own.q100_5mg)];
    expect(matchRefs(await search(`Observation?code=${CS}|qty&_sort=value-quantity`))).toEqual(ascending);
    const descending = [refOf(own.q100_5mg), ...at100, refOf(own.q99_5mg), refOf(own.q99_4999mg), refOf(own.q5milligram)];
    expect(matchRefs(await search(`Observation?code=${CS}|qty&_sort=-value-quantity`))).toEqual(descending);
  });

  it_('quantity: units by system and code, by code in any system, by unit text', async () => {
    await qty(`value-quantity=100|${UCUM}|mg`, ['q100mg', 'q99_5mg']);
    await qty(`value-quantity=100|${UCUM}|kg`, ['q100kg']);
    await qty('value-quantity=100||mg', ['q100mg', 'q99_5mg', 'q100text']);
    await qty('value-quantity=100|http://example.org/units|mg', []);
    await qty('value-quantity=5||milligram', ['q5milligram']);
    await qty('value-quantity=5||mg', ['q5milligram']);
    await qty(`value-quantity=gt50|${UCUM}|mg,lt10||mg`, ['q100mg', 'q99_5mg', 'q100_5mg', 'q99_4999mg', 'q5milligram']);
  });

  it_('quantity over the Synthea data', async () => {
    const obs = ofType('Observation');
    const v = (o: Json) => o.valueQuantity?.value as number | undefined;
    await expectSearch(`Observation?value-quantity=165|${UCUM}|cm`, obs.filter((o) => o.valueQuantity?.code === 'cm' && (v(o) as number) >= 164.5 && (v(o) as number) < 165.5));
    await expectSearch('Observation?code=8302-2&value-quantity=lt100', obs.filter((o) => hasCoding(o.code, undefined, '8302-2') && (v(o) as number) < 100));
    await expectSearch(`Observation?value-quantity=gt150|${UCUM}|cm`, obs.filter((o) => o.valueQuantity?.code === 'cm' && (v(o) as number) > 150));
  });
});

describe('parameters of other types, computed over the Synthea data', () => {
  it_('Encounter class (Coding), Immunization vaccine-code, MedicationRequest code, Observation value-concept, DiagnosticReport code', async () => {
    const encounters = ofType('Encounter');
    await expectSearch('Encounter?class=EMER', encounters.filter((e) => e.class?.code === 'EMER'));
    await expectSearch('Encounter?class=http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB', encounters.filter((e) => e.class?.code === 'AMB'));
    const immunizations = ofType('Immunization');
    await expectSearch('Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|140', immunizations.filter((i) => hasCoding(i.vaccineCode, 'http://hl7.org/fhir/sid/cvx', '140')));
    const requests = ofType('MedicationRequest');
    const rx = codings(requests[0]?.medicationCodeableConcept)[0];
    await expectSearch(`MedicationRequest?code=${rx.system}|${rx.code}`, requests.filter((m) => hasCoding(m.medicationCodeableConcept, rx.system, rx.code)));
    const observations = ofType('Observation');
    const concepts = observations.filter((o) => o.valueCodeableConcept);
    const concept = codings(concepts[0].valueCodeableConcept)[0];
    await expectSearch(`Observation?value-concept=${concept.system}|${concept.code}`, observations.filter((o) => hasCoding(o.valueCodeableConcept, concept.system, concept.code)));
    const reports = ofType('DiagnosticReport');
    await expectSearch('DiagnosticReport?code=57698-3', reports.filter((d) => hasCoding(d.code, undefined, '57698-3')));
    const allergies = ofType('AllergyIntolerance');
    const allergy = codings(allergies[0].code)[0];
    await expectSearch(`AllergyIntolerance?code=${allergy.system}|${allergy.code}`, allergies.filter((a) => hasCoding(a.code, allergy.system, allergy.code)));
  });

  it_('dates of Periods and of choice elements: Procedure, Condition, Encounter', async () => {
    const procedures = ofType('Procedure');
    const performed = (p: Json) => valueRange(p.performedDateTime ?? p.performedPeriod);
    await expectSearch('Procedure?date=ge2015', procedures.filter((p) => dateMatches('ge2015', performed(p))));
    const conditions = ofType('Condition');
    await expectSearch('Condition?onset-date=lt2000', conditions.filter((c) => dateMatches('lt2000', valueRange(c.onsetDateTime ?? c.onsetPeriod))));
    const reports = ofType('DiagnosticReport');
    const issuedDay = (reports[0].issued as string).slice(0, 10);
    await expectSearch(`DiagnosticReport?issued=${issuedDay}`, reports.filter((d) => dateMatches(issuedDay, valueRange(d.issued))));
    const encounters = ofType('Encounter');
    await expectSearch('Encounter?date=ge2017-01-01&date=le2018-06-30', encounters.filter((e) => dateMatches('ge2017-01-01', valueRange(e.period)) && dateMatches('le2018-06-30', valueRange(e.period))));
  });
});

describe('reference parameters', () => {
  const observations = () => ofType('Observation');
  const of = (patient: Json) => observations().filter((o) => o.subject?.reference === refOf(patient));

  it_('Type/id, bare id, absolute URL, type modifier and the patient parameter agree', async () => {
    const edward = synPatient.Edward;
    const expected = of(edward);
    await expectSearch(`Observation?subject=Patient/${edward.id}`, expected);
    await expectSearch(`Observation?subject=${edward.id}`, expected);
    await expectSearch(`Observation?subject=${enc(`${t.baseUrl}/fhir/Patient/${edward.id}`)}`, expected);
    await expectSearch(`Observation?subject:Patient=${edward.id}`, expected);
    await expectSearch(`Observation?patient=${edward.id}`, expected);
    await expectSearch(`Observation?patient=Patient/${edward.id}`, expected);
    await expectSearch(`Observation?subject:Device=${edward.id}`, [], { empty: true });
    await expectSearch(`Observation?subject=Group/${edward.id}`, [], { empty: true });
  });

  it_('OR of references, and AND with other parameters', async () => {
    const { Edward, Violet } = synPatient;
    await expectSearch(`Observation?subject=Patient/${Edward.id},Patient/${Violet.id}`, [...of(Edward), ...of(Violet)]);
    const encounter = ofType('Encounter').find((e) => e.subject.reference === refOf(Violet)) as Json;
    await expectSearch(`Observation?encounter=Encounter/${encounter.id}`, observations().filter((o) => o.encounter?.reference === refOf(encounter)));
    await expectSearch(
      `Condition?patient=${synPatient.Patria.id}&clinical-status=active`,
      ofType('Condition').filter((c) => c.subject.reference === refOf(synPatient.Patria) && hasCoding(c.clinicalStatus, undefined, 'active')),
    );
  });

  it_('a value, type modifier, chain, _has or _include naming a type the parameter cannot point to is a 400; its targets work as before', async () => {
    const encounter = ofType('Encounter').find((e) => observations().some((o) => o.encounter?.reference === refOf(e))) as Json;
    const withIt = observations().filter((o) => o.encounter?.reference === refOf(encounter));
    // Observation's encounter targets Encounter and EpisodeOfCare: never a Patient, whatever the id.
    for (const q of [
      `Observation?encounter=Patient/${encounter.id}`,
      `Observation?encounter:Patient=${encounter.id}`,
      `Observation?encounter:Patient.name=x`,
      `Observation?subject:Patient=Group/${encounter.id}`,
      `Patient?_has:Observation:encounter:_id=${withIt[0].id}`,
      `Observation?_id=${withIt[0].id}&_include=Observation:encounter:Patient`,
    ]) {
      const body = expectOutcome(await api.get(q), 400);
      expect({ q, text: JSON.stringify(body.issue) }).toEqual({ q, text: expect.stringMatching(/encounter|subject:Patient/) });
    }
    await expectSearch(`Observation?encounter=Encounter/${encounter.id}`, withIt);
    await expectSearch(`Observation?encounter=${encounter.id}`, withIt);
    await expectSearch(`Observation?encounter:Encounter=${encounter.id}`, withIt);
    await expectSearch(`Observation?encounter=${enc(`${t.baseUrl}/fhir/Encounter/${encounter.id}`)}`, withIt);
    await expectSearch(`Observation?encounter=${enc(`http://other.example/fhir/Patient/${encounter.id}`)}`, [], { empty: true });
    await expectSearch(`Encounter?_has:Observation:encounter:_id=${withIt[0].id}`, [encounter]);
    // At system level such a clause only rules out the types it cannot concern; naming none it can is still a 400.
    expect(await found(`?_type=Encounter,Patient&_has:Observation:encounter:_id=${withIt[0].id}`)).toEqual([refOf(encounter)]);
    expect(await found(`?_type=Observation,Condition&encounter=Encounter/${encounter.id}`)).toEqual(
      [...withIt, ...ofType('Condition').filter((c) => c.encounter?.reference === refOf(encounter))].map(refOf).sort(),
    );
    expectOutcome(await api.get(`?_type=Patient,Practitioner&_has:Observation:encounter:_id=${withIt[0].id}`), 400);
    const bundle = await search(`Observation?_id=${withIt[0].id}&_include=Observation:encounter:Encounter`);
    expect(((bundle.entry ?? []) as Json[]).map((e) => `${e.search.mode} ${refOf(e.resource)}`).sort()).toEqual([`include ${refOf(encounter)}`, `match ${refOf(withIt[0])}`]);
  });

  it_(':identifier matches Reference.identifier', async () => {
    await expectSearch('Observation?performer:identifier=urn:search-spec:npi|P-77', [own.obsPerformer]);
    await expectSearch('Observation?performer:identifier=urn:search-spec:npi|P-7', [], { empty: true });
  });

  it_(':identifier on an encrypted type (matched by keyed hash: whole values only)', async () => {
    await expectSearch('DiagnosticReport?performer:identifier=urn:search-spec:npi|D-9', [own.drPerformer]);
    await expectSearch('DiagnosticReport?performer:identifier=D-9', [own.drPerformer]);
    await expectSearch('DiagnosticReport?performer:identifier=urn:search-spec:npi|D-', [], { empty: true });
    await expectSearch('DiagnosticReport?performer:identifier=urn:search-spec:other|D-9', [], { empty: true });
  });

  it('a relative canonical (Type/id) names that resource: found by Type/id with or without its |version, and through a chain', async () => {
    const q = await api.post('Questionnaire', { resourceType: 'Questionnaire', status: 'active' });
    expect(q.status).toBe(201);
    const qr = await api.post('QuestionnaireResponse', { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: `Questionnaire/${q.body.id}|2` });
    expect(qr.status).toBe(201);
    for (const value of [`Questionnaire/${q.body.id}`, `Questionnaire/${q.body.id}|2`]) {
      expect(await found(`QuestionnaireResponse?questionnaire=${enc(value)}`)).toEqual([`QuestionnaireResponse/${qr.body.id}`]);
    }
    expect(await found(`QuestionnaireResponse?questionnaire:Questionnaire.status=active&_id=${qr.body.id}`)).toEqual([`QuestionnaireResponse/${qr.body.id}`]);
  });

  it_(':missing', async () => {
    await expectSearch('Observation?subject:missing=true', observations().filter((o) => !o.subject));
    await expectSearch('Observation?encounter:missing=false', observations().filter((o) => o.encounter));
    await expectSearch(`Observation?encounter:missing=true&subject=Patient/${own.patA.id}`, of(own.patA));
  });
});

describe('uri parameters', () => {
  it_('exact, :below and :above', async () => {
    const vs = ofType('ValueSet');
    const base = 'http://example.org/fhir/ValueSet/search-a';
    await expectSearch(`ValueSet?url=${base}`, [own.vsA]);
    await expectSearch(`ValueSet?url=${base}/`, [], { empty: true });
    // By path segments: search-ax starts with search-a's text but is not below it.
    await expectSearch(`ValueSet?url:below=${base}`, vs.filter((v) => v.url === base || v.url.startsWith(`${base}/`)));
    expect(await found(`ValueSet?url:below=${base}`)).toEqual([own.vsA, own.vsAB].map(refOf).sort());
    expect(await found(`ValueSet?url:below=${base}/`)).toEqual([own.vsAB].map(refOf));
    await expectSearch(`ValueSet?url:above=${base}/b/c`, [own.vsA, own.vsAB]);
    await expectSearch(`ValueSet?url:above=${base}/c`, [own.vsA]);
    await expectSearch(`ValueSet?url:above=${base}x/c`, [own.vsAx]);
  });
});

describe('composite parameters', () => {
  const observations = () => ofType('Observation');
  const componentMatch = (o: Json, code: string, test: (v: number) => boolean) =>
    (o.component ?? []).some((c: Json) => hasCoding(c.code, LOINC, code) && typeof c.valueQuantity?.value === 'number' && test(c.valueQuantity.value));

  it_('component-code-value-quantity: code and value within the same component', async () => {
    await expectSearch(`Observation?component-code-value-quantity=${LOINC}|8480-6$gt140`, observations().filter((o) => componentMatch(o, '8480-6', (v) => v > 140)));
    // No diastolic value is above 140, although some blood pressures have a component above 140.
    const crossed = observations().filter((o) => (o.component ?? []).some((c: Json) => hasCoding(c.code, LOINC, '8462-4')) && (o.component ?? []).some((c: Json) => c.valueQuantity?.value > 140));
    expect(crossed.length).toBeGreaterThan(0);
    await expectSearch(`Observation?component-code-value-quantity=${LOINC}|8462-4$gt140`, observations().filter((o) => componentMatch(o, '8462-4', (v) => v > 140)), { empty: true });
    await expectSearch(`Observation?component-code-value-quantity=${LOINC}|8462-4$gt100`, observations().filter((o) => componentMatch(o, '8462-4', (v) => v > 100)));
    await expectSearch(
      `Observation?component-code-value-quantity=${LOINC}|8480-6$gt160,${LOINC}|8462-4$lt72`,
      observations().filter((o) => componentMatch(o, '8480-6', (v) => v > 160) || componentMatch(o, '8462-4', (v) => v < 72)),
    );
    await expectSearch(`Observation?component-code-value-quantity=8480-6$lt110|${UCUM}|mm[Hg]`, observations().filter((o) => componentMatch(o, '8480-6', (v) => v < 110)));
  });

  it_('code-value-quantity on the Observation itself', async () => {
    await expectSearch(
      `Observation?code-value-quantity=${LOINC}|8302-2$gt170`,
      observations().filter((o) => hasCoding(o.code, LOINC, '8302-2') && o.valueQuantity?.value > 170),
    );
    await expectSearch(`Observation?code-value-quantity=${LOINC}|29463-7$gt170`, observations().filter((o) => hasCoding(o.code, LOINC, '29463-7') && o.valueQuantity?.value > 170), { empty: true });
  });
});

describe('chains and reverse chains', () => {
  const observations = () => ofType('Observation');
  const patientOf = (o: Json) => (o.subject?.reference?.startsWith('Patient/') ? resolve(o.subject) : undefined);

  it_('one level, with and without a type', async () => {
    const expected = observations().filter((o) => startsWith(nameParts(patientOf(o)?.name), 'gulgowski'));
    await expectSearch('Observation?subject:Patient.name=gulgowski', expected);
    await expectSearch('Observation?patient.family=GULGOWSKI', expected);
    await expectSearch('Observation?subject.name=gulgowski', expected);
    await expectSearch(`Observation?patient.identifier=${US_SSN}|${identifierValue(synPatient.Violet, US_SSN)}`, observations().filter((o) => patientOf(o) === synPatient.Violet));
    await expectSearch(`Observation?patient.name=${enc('josé')}`, observations().filter((o) => startsWith(nameParts(patientOf(o)?.name), 'jose')));
    await expectSearch('Observation?subject:Patient.name:exact=Gulgowski', expected);
    await expectSearch('Observation?subject:Patient.name:exact=gulgowski', [], { empty: true });
    await expectSearch(
      'Observation?subject:Patient.name=gulgowski,gerhold',
      observations().filter((o) => ['gulgowski', 'gerhold'].some((v) => startsWith(nameParts(patientOf(o)?.name), v))),
    );
    // into a field of an encrypted type that is matched by keyed hash
    const inChelmsford = observations().filter((o) => equalsNorm(((patientOf(o)?.address ?? []) as Json[]).map((a) => a.city), 'chelmsford'));
    await expectSearch('Observation?subject:Patient.address-city=chelmsford', inChelmsford);
    await expectSearch('Observation?subject:Patient.address-city=chelm', [], { empty: true });
    // AND of two chains
    await expectSearch(
      'Observation?patient.gender=female&patient.birthdate=lt1950',
      observations().filter((o) => patientOf(o)?.gender === 'female' && dateMatches('lt1950', valueRange(patientOf(o)?.birthDate))),
    );
  });

  it_('two levels', async () => {
    const orgName = (o: Json) => [resolve(resolve(o.encounter)?.serviceProvider)?.name].filter(Boolean) as string[];
    await expectSearch('Observation?encounter.service-provider.name=lowell', observations().filter((o) => startsWith(orgName(o), 'lowell')));
    const participants = (o: Json) => ((resolve(o.encounter)?.participant ?? []) as Json[]).map((p) => resolve(p.individual)).filter((p) => p?.resourceType === 'Practitioner') as Json[];
    await expectSearch(
      'Observation?encounter.participant:Practitioner.family=towne',
      observations().filter((o) => participants(o).some((p) => startsWith((p.name ?? []).map((n: Json) => n.family), 'towne'))),
    );
    const gps = (o: Json) => ((patientOf(o)?.generalPractitioner ?? []) as Json[]).map(resolve).filter(Boolean) as Json[];
    const expected = observations().filter((o) => gps(o).some((p) => startsWith(nameParts(p.name), 'zoe')));
    expect(expected.length).toBeGreaterThan(0);
    await expectSearch('Observation?patient.general-practitioner.name=zoe', expected);
    await expectSearch('Observation?patient.general-practitioner:Practitioner.family=angstrom', expected);
  });

  it_('_has, and _has nested', async () => {
    const patients = ofType('Patient');
    const obsOfPatient = (p: Json) => observations().filter((o) => o.subject?.reference === refOf(p));
    await expectSearch('Patient?_has:Observation:patient:code=2093-3', patients.filter((p) => obsOfPatient(p).some((o) => hasCoding(o.code, undefined, '2093-3'))));
    await expectSearch(`Patient?_has:Observation:patient:code=${LOINC}|4548-4`, [synPatient.Patria]);
    const lipidResults = new Set(
      ofType('DiagnosticReport')
        .filter((d) => hasCoding(d.code, undefined, '57698-3'))
        .flatMap((d) => (d.result ?? []).map((r: Json) => r.reference)),
    );
    await expectSearch(
      'Patient?_has:Observation:patient:_has:DiagnosticReport:result:code=57698-3',
      patients.filter((p) => obsOfPatient(p).some((o) => lipidResults.has(refOf(o)))),
    );
    const violetsEncounters = ofType('Encounter').filter((e) => e.subject.reference === refOf(synPatient.Violet));
    const practitioners = new Set(violetsEncounters.flatMap((e) => (e.participant ?? []).map((p: Json) => p.individual?.reference)));
    await expectSearch(`Practitioner?_has:Encounter:participant:subject=Patient/${synPatient.Violet.id}`, ofType('Practitioner').filter((p) => practitioners.has(refOf(p))));
    await expectSearch('Patient?_has:Observation:patient:code=2093-3&gender=female', patients.filter((p) => p.gender === 'female' && obsOfPatient(p).some((o) => hasCoding(o.code, undefined, '2093-3'))));
  });
});

describe('system level, POST _search', () => {
  it_('GET [base]?_type=A,B applies each parameter as each type defines it', async () => {
    const patients = ofType('Patient').filter((p) => equalsNorm((p.address ?? []).map((a: Json) => a.city), 'chelmsford'));
    const practitioners = ofType('Practitioner').filter((p) => startsWith((p.address ?? []).map((a: Json) => a.city), 'chelmsford'));
    expect(patients.length * practitioners.length).toBeGreaterThan(0);
    expect(await found('?_type=Patient,Practitioner&address-city=chelmsford')).toEqual([...patients, ...practitioners].map(refOf).sort());

    const patria = refOf(synPatient.Patria);
    const expected = [...ofType('Observation'), ...ofType('Condition')].filter((r) => r.subject?.reference === patria);
    expect(await found(`?_type=Observation,Condition&patient=${patria}`)).toEqual(expected.map(refOf).sort());
    expect(await found(`?_id=${own.patA.id}`)).toEqual([refOf(own.patA)]);
  });

  it_('a parameter not common to every type searched: lenient searches the types that define it and says so; strict is a 400', async () => {
    const males = ofType('Patient').filter((p) => p.gender === 'male').map(refOf).sort();
    expect(males.length).toBeGreaterThan(0);
    const res = await api.get('?_type=Observation,Patient&gender=male&_count=1000');
    expect(res.status).toBe(200);
    expect(matchRefs(res.body).sort()).toEqual(males);
    const outcome = (res.body.entry as Json[]).find((e) => e.search?.mode === 'outcome')?.resource;
    expect(outcome?.issue?.[0]).toMatchObject({ severity: 'warning', diagnostics: expect.stringMatching(/^gender: not defined for 1 of the 2 types searched \(Observation\)/) });
    // Applied, so the self link keeps it.
    expect((res.body.link as Json[]).find((l) => l.relation === 'self')?.url).toContain('gender=male');
    const strict = await api.get('?_type=Observation,Patient&gender=male').set('Prefer', 'handling=strict');
    expect(JSON.stringify(expectOutcome(strict, 400))).toMatch(/gender is not defined for 1 of the 2 types searched \(Observation\)/);
    // Common to both: no note, under strict handling too.
    const common = await api.get(`?_type=Observation,Condition&patient=${refOf(synPatient.Patria)}`).set('Prefer', 'handling=strict');
    expect(common.status).toBe(200);
    expect((common.body.entry as Json[]).some((e) => e.search?.mode === 'outcome')).toBe(false);
  });

  it_('POST [type]/_search (form body merged with the query) and POST /_search answer as GET', async () => {
    const patria = synPatient.Patria.id;
    const get = await found(`Observation?patient=${patria}&code=${LOINC}|2093-3,${LOINC}|2571-8`);
    expect(get.length).toBeGreaterThan(1);
    const form = new URLSearchParams({ code: `${LOINC}|2093-3,${LOINC}|2571-8` }).toString();
    const post = searchset(await api.post(`Observation/_search?patient=${patria}&_count=1000`, form, 'application/x-www-form-urlencoded'), 'POST _search');
    expect(matchRefs(post).sort()).toEqual(get);
    expect(post.total).toBe(get.length);

    const systemForm = new URLSearchParams({ _type: 'Observation,Condition', patient: `Patient/${patria}`, _count: '1000' }).toString();
    const system = searchset(await api.post('_search', systemForm, 'application/x-www-form-urlencoded'), 'POST /_search');
    expect(matchRefs(system).sort()).toEqual(await found(`?_type=Observation,Condition&patient=Patient/${patria}`));
  });

  it_('compartment search: Patient/{id}/{type} and Patient/{id}/* find only that patient\'s resources', async () => {
    const desmond = synPatient.Desmond;
    const ref = refOf(desmond);
    const own_ = (type: string, field: string) => ofType(type).filter((r) => r[field]?.reference === ref).map(refOf).sort();
    const observations = own_('Observation', 'subject');
    expect(observations.length).toBeGreaterThan(10);
    expect(ofType('Observation').length).toBeGreaterThan(observations.length); // other patients' exist
    expect(await found(`Patient/${desmond.id}/Observation`)).toEqual(observations);
    expect(await found(`Patient/${desmond.id}/Encounter`)).toEqual(own_('Encounter', 'subject'));
    // Parameters apply as in the type's search.
    const code = codings(byRef.get(observations[0])?.code)[0]?.code as string;
    const coded = ofType('Observation').filter((o) => o.subject?.reference === ref && hasCoding(o.code, LOINC, code)).map(refOf).sort();
    expect(coded.length).toBeLessThan(observations.length);
    expect(await found(`Patient/${desmond.id}/Observation?code=${LOINC}|${code}`)).toEqual(coded);
    // Every type of the compartment: his Patient and records, nobody else's, no shared resources.
    const all = await found(`Patient/${desmond.id}/*`);
    expect(all).toEqual(expect.arrayContaining([ref, ...observations, ...own_('Condition', 'subject'), ...own_('Encounter', 'subject')]));
    // Each one is his Patient or refers to him.
    const strangers = all.filter((r) => r !== ref && !JSON.stringify(byRef.get(r)).includes(`"${ref}"`));
    expect(strangers).toEqual([]);
    expect(all.some((r) => /^(Organization|Practitioner|Location)\//.test(r))).toBe(false);
    // Paging links keep the compartment path.
    const first = await search(`Patient/${desmond.id}/Observation?_count=5`);
    const next = (first.link as Json[]).find((l) => l.relation === 'next')?.url as string;
    expect(next).toMatch(new RegExp(`^${t.baseUrl}/fhir/Patient/${desmond.id}/Observation\\?`));
    const second = searchset(await api.get(linkPath(next)), 'next');
    expect(new Set([...matchRefs(first), ...matchRefs(second)]).size).toBe(10);
    for (const r of matchRefs(second)) expect(observations).toContain(r);
    // A type outside the compartment is refused; an unknown Patient is 404.
    expectOutcome(await api.get(`Patient/${desmond.id}/Organization`), 400);
    expectOutcome(await api.get(`Patient/no-such-patient/Observation`), 404);
  });

  it_('the links of a search follow back to the same search', async () => {
    const bundle = await search(`Observation?patient=${synPatient.Desmond.id}&_count=10`);
    const next = (bundle.link as Json[]).find((l) => l.relation === 'next')?.url as string;
    expect(next).toMatch(new RegExp(`^${t.baseUrl}/fhir/Observation\\?`));
    const page2 = searchset(await api.get(linkPath(next)), 'next');
    const all = ofType('Observation').filter((o) => o.subject?.reference === refOf(synPatient.Desmond)).map(refOf);
    for (const ref of [...matchRefs(bundle), ...matchRefs(page2)]) expect(all).toContain(ref);
    expect(new Set([...matchRefs(bundle), ...matchRefs(page2)]).size).toBe(20);
  });
});
