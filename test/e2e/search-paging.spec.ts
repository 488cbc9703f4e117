import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Response } from 'supertest';
import { FhirRequest, linkPath } from '../helpers/fhir-request';
import { fhirKitClient } from '../helpers/fhir-kit';
import { hasSynthea, itWithSynthea, syntheaBundleFiles } from '../helpers/synthea';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { norm, postTransaction } from '../helpers/search-fixtures';

/**
 * FHIR search results: _sort on several keys, keyset paging forwards and backwards (also while the
 * data changes), _total, _summary, _elements, _include / _revinclude (with :iterate) and a search
 * through fhir-kit-client. Three Synthea transaction Bundles and a few resources made here are
 * loaded once; every expected order and set is computed in this file from those resources as sent
 * (with the ids the server assigned), never from the server's answers.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const BUNDLES = ['Bethany_Hauck', 'Desmond_Gutmann', 'Patria_Schimmel'];
const LOINC = 'http://loinc.org';
const CS = 'urn:search-paging-spec:cs';
const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
/** The top-level elements of Patient marked Σ (summary) in the R4 specification. */
const PATIENT_SUMMARY = ['id', 'meta', 'implicitRules', 'identifier', 'active', 'name', 'telecom', 'gender', 'birthDate', 'deceasedBoolean', 'deceasedDateTime', 'address', 'managingOrganization', 'link'];

let t: TestApp;
let api: FhirRequest;

const stored: Json[] = [];
const byRef = new Map<string, Json>();
const own: Record<string, Json> = {};
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
  const mine: Record<string, Json> = {
    pNoBirth: { resourceType: 'Patient', name: [{ family: 'Adams' }], gender: 'other' },
    // Born the same day as Desmond: a tie on birthdate, broken by id.
    pTwin: { resourceType: 'Patient', name: [{ family: 'Zimmer', given: ['Twin'] }], gender: 'male', birthDate: synPatient.Desmond.birthDate },
    pZoe1: { resourceType: 'Patient', name: [{ family: 'Ärger', given: ['Zoë'] }], gender: 'female', birthDate: '2001-02-03' },
    pZoe2: { resourceType: 'Patient', name: [{ family: 'Arger', given: ['Zoe'] }], gender: 'female', birthDate: '2001-02-04' },
    // For links that must keep an escaped comma: with it, "alpha\,beta" is one value; without, "alpha" would match Alpha Omega too.
    orgAB: { resourceType: 'Organization', name: 'Alpha,Beta Clinic' },
    orgB: { resourceType: 'Organization', name: 'Beta Labs' },
    orgAO: { resourceType: 'Organization', name: 'Alpha Omega' },
  };
  // Paging: dates with two ties, and two without any date (they sort last both ways).
  const pagingDates = ['2001-01-01', '2001-01-02', '2001-01-02', '2001-01-03', '2001-02-01', '2001-02-01', '2001-03-01', '2002', '2002-06', '2003-01-01T10:00:00Z', '2003-01-01T10:00:01Z'];
  pagingDates.forEach((d, i) => (mine[`page${i}`] = obs('paging', { effectiveDateTime: d })));
  mine.pageNone1 = obs('paging', {});
  mine.pageNone2 = obs('paging', {});
  const resources = await transaction(txOf(Object.values(mine)));
  Object.keys(mine).forEach((label, i) => (own[label] = resources[i]));
}, 120_000);

afterAll(async () => {
  await t?.close();
});

// ---------------------------------------------------------------------------------------------

const refOf = (r: Json) => `${r.resourceType}/${r.id}`;
const ofType = (type: string) => stored.filter((r) => r.resourceType === type);
const urn = () => `urn:uuid:${randomUUID()}`;
const obs = (code: string, extra: Json = {}): Json => ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: CS, code }] }, ...extra });
const txOf = (resources: Json[]): Json => ({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: resources.map((resource) => ({ fullUrl: urn(), resource, request: { method: 'POST', url: resource.resourceType } })),
});

/** POSTs a transaction and records its resources with the ids from the transaction-response (same order). */
async function transaction(bundle: Json): Promise<Json[]> {
  const resources = await postTransaction(api, bundle);
  for (const r of resources) {
    stored.push(r);
    byRef.set(refOf(r), r);
  }
  return resources;
}


/** A FHIR date or dateTime as the range [low, high) of ms it covers at its precision. */
function dateRange(text: string): [number, number] {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(Z|[+-]\d{2}:\d{2})?)?)?)?$/.exec(text);
  if (!m) throw new Error(`not a FHIR date: ${text}`);
  const [, y, mo, d, h, mi, s, zone] = m;
  if (!mo) return [Date.UTC(+y, 0, 1), Date.UTC(+y + 1, 0, 1)];
  if (!d) return [Date.UTC(+y, +mo - 1, 1), Date.UTC(+y, +mo, 1)];
  if (!h) return [Date.UTC(+y, +mo - 1, +d), Date.UTC(+y, +mo - 1, +d + 1)];
  const low = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}${zone ?? 'Z'}`);
  return [low, low + 1000];
}

type SortValue = number | string | undefined;
interface SortKey {
  /** The key's value for a resource: the lowest of its values ascending, the highest descending. */
  value: (r: Json, descending: boolean) => SortValue;
  descending?: boolean;
}

const minMax = (values: SortValue[], descending: boolean): SortValue => {
  const present = values.filter((v): v is number | string => v !== undefined).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return descending ? present.at(-1) : present[0];
};

const KEYS = {
  birthdate: (r: Json, desc: boolean) => (r.birthDate ? dateRange(r.birthDate)[desc ? 1 : 0] : undefined),
  family: (r: Json, desc: boolean) => minMax(((r.name ?? []) as Json[]).map((n) => (n.family ? norm(n.family) : undefined)), desc),
  gender: (r: Json) => r.gender as string | undefined,
  date: (r: Json, desc: boolean) => (r.effectiveDateTime ? dateRange(r.effectiveDateTime)[desc ? 1 : 0] : undefined),
  code: (r: Json, desc: boolean) => minMax(((r.code?.coding ?? []) as Json[]).map((c) => c.code), desc),
  id: (r: Json) => r.id as string,
};

/** Sorted as _sort asks (`` for none): each key in its direction, resources without a value last, ties by type and id ascending. */
function sortBy(resources: Json[], spec: string): Json[] {
  const keys: SortKey[] = (spec ? spec.split(',') : []).map((k) => {
    const descending = k.startsWith('-');
    const name = k.replace(/^-/, '');
    const value = name === '_id' ? KEYS.id : KEYS[name as keyof typeof KEYS];
    if (!value) throw new Error(`no sort key ${name}`);
    return { value, descending };
  });
  const cmp = (a: SortValue, b: SortValue) => (a! < b! ? -1 : a! > b! ? 1 : 0);
  return [...resources].sort((a, b) => {
    for (const k of keys) {
      const va = k.value(a, !!k.descending);
      const vb = k.value(b, !!k.descending);
      if (va === undefined && vb === undefined) continue;
      if (va === undefined) return 1;
      if (vb === undefined) return -1;
      const c = cmp(va, vb) * (k.descending ? -1 : 1);
      if (c) return c;
    }
    return cmp(a.resourceType, b.resourceType) || cmp(a.id, b.id);
  });
}

// ---------------------------------------------------------------------------------------------

async function search(query: string): Promise<Json> {
  if (/[^\x21-\x7e]/.test(query)) throw new Error(`encode the query first: ${query}`);
  return searchset(await api.get(query), query);
}

function searchset(res: Response, what: string): Json {
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
  expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
  return res.body as Json;
}

const entries = (bundle: Json, mode: string): Json[] => ((bundle.entry as Json[] | undefined) ?? []).filter((e) => e.search?.mode === mode);
const matchRefs = (bundle: Json): string[] => entries(bundle, 'match').map((e) => refOf(e.resource));
const includeRefs = (bundle: Json): string[] => entries(bundle, 'include').map((e) => refOf(e.resource));
const link = (bundle: Json, relation: string): string | undefined => (bundle.link as Json[]).find((l) => l.relation === relation)?.url;
const follow = async (url: string) => searchset(await api.get(linkPath(url)), url);

/** Follows `next` from a first page to the end; the pages' match refs. */
async function pagesForward(first: Json): Promise<{ pages: string[][]; bundles: Json[] }> {
  const bundles = [first];
  for (let next = link(first, 'next'); next; next = link(bundles[bundles.length - 1], 'next')) {
    if (bundles.length > 200) throw new Error('too many pages');
    bundles.push(await follow(next));
  }
  return { pages: bundles.map(matchRefs), bundles };
}

/** Follows `previous` from a page back to the start; the pages' match refs, in the order visited. */
async function pagesBackward(last: Json): Promise<string[][]> {
  const bundles = [last];
  for (let prev = link(last, 'previous'); prev; prev = link(bundles[bundles.length - 1], 'previous')) {
    if (bundles.length > 200) throw new Error('too many pages');
    bundles.push(await follow(prev));
  }
  return bundles.map(matchRefs);
}

const chunk = <T>(items: T[], size: number): T[][] => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

const it_ = itWithSynthea();
const pagingSet = () => ofType('Observation').filter((o) => o.code.coding[0].system === CS && o.code.coding[0].code === 'paging');
const observationsOf = (p: Json) => ofType('Observation').filter((o) => o.subject?.reference === refOf(p));

describe('_sort', () => {
  it_('one key in both directions; several values sort by their lowest ascending and highest descending', async () => {
    const patients = ofType('Patient');
    for (const spec of ['birthdate', '-birthdate', 'family', '-family', 'gender', '-gender', '_id', '-_id']) {
      const bundle = await search(`Patient?_sort=${spec}`);
      expect({ spec, refs: matchRefs(bundle) }).toEqual({ spec, refs: sortBy(patients, spec).map(refOf) });
    }
    // Hand-checked: Patria (Schimmel, born Corkery) before Bethany (Hauck, born Wuckert) ascending, after her descending.
    const order = (refs: string[]) => [refs.indexOf(refOf(synPatient.Patria)), refs.indexOf(refOf(synPatient.Bethany))];
    const [pa, ba] = order(matchRefs(await search('Patient?_sort=family')));
    expect(pa).toBeLessThan(ba);
    const [pd, bd] = order(matchRefs(await search('Patient?_sort=-family')));
    expect(pd).toBeGreaterThan(bd);
    // Without a birthdate: last in both directions.
    expect(matchRefs(await search('Patient?_sort=birthdate')).at(-1)).toBe(refOf(own.pNoBirth));
    expect(matchRefs(await search('Patient?_sort=-birthdate')).at(-1)).toBe(refOf(own.pNoBirth));
  });

  it_('several keys, mixed directions', async () => {
    const patients = ofType('Patient');
    for (const spec of ['gender,-birthdate', '-gender,birthdate', 'birthdate,-_id']) {
      const bundle = await search(`Patient?_sort=${spec}`);
      expect({ spec, refs: matchRefs(bundle) }).toEqual({ spec, refs: sortBy(patients, spec).map(refOf) });
    }
    for (const spec of ['-date,code', 'code,-date', 'date,-code']) {
      const bethany = observationsOf(synPatient.Bethany);
      const bundle = await search(`Observation?patient=${synPatient.Bethany.id}&_sort=${spec}&_count=1000`);
      expect({ spec, refs: matchRefs(bundle) }).toEqual({ spec, refs: sortBy(bethany, spec).map(refOf) });
    }
  });
});

describe('_sort by a reference', () => {
  it('a reference to a contained resource is no sort key: that resource sorts with those without a value, in both directions', async () => {
    const created = async (resource: Json) => {
      const res = await api.post(resource.resourceType, resource);
      expect(res.status).toBe(201);
      return res.body as Json;
    };
    const practitioner = await created({ resourceType: 'Practitioner', name: [{ family: 'Sortkey' }] });
    const code = `contained-sort-${randomUUID()}`;
    const referring = await created(obs(code, { performer: [{ reference: `Practitioner/${practitioner.id}` }] }));
    const contained = await created(obs(code, { contained: [{ resourceType: 'Practitioner', id: 'p1', name: [{ family: 'Inside' }] }], performer: [{ reference: '#p1' }] }));
    const without = await created(obs(code));
    for (const spec of ['performer', '-performer']) {
      const refs = matchRefs(await search(`Observation?code=${encodeURIComponent(`${CS}|${code}`)}&_sort=${spec}`));
      expect({ spec, first: refs[0] }).toEqual({ spec, first: refOf(referring) });
      expect(refs.slice(1).sort()).toEqual([refOf(contained), refOf(without)].sort());
    }
    // The contained reference still counts as a value for :missing.
    expect(matchRefs(await search(`Observation?code=${encodeURIComponent(`${CS}|${code}`)}&performer:missing=true`))).toEqual([refOf(without)]);
  });
});

describe('paging', () => {
  it_('_count defaults to 20; next, then previous back, give the same resources in the same order, without gaps or duplicates', async () => {
    const bethany = observationsOf(synPatient.Bethany);
    const first = await search(`Observation?patient=${synPatient.Bethany.id}`);
    expect(first.entry).toHaveLength(20);
    expect(first.total).toBe(bethany.length);

    expect(bethany.length % 49).toBe(0); // an exact number of pages: no empty page at the end
    for (const [query, spec] of [
      [`Observation?patient=${synPatient.Bethany.id}&_count=13`, '_id'],
      [`Observation?patient=${synPatient.Bethany.id}&_count=49&_sort=date`, 'date'],
      [`Observation?patient=${synPatient.Bethany.id}&_count=10&_sort=-date,code`, '-date,code'],
    ]) {
      const expected = sortBy(bethany, spec).map(refOf);
      const { pages, bundles } = await pagesForward(await search(query));
      const size = Number(/_count=(\d+)/.exec(query)?.[1]);
      expect({ query, pages }).toEqual({ query, pages: chunk(expected, size) });
      expect(link(bundles[0], 'previous')).toBeUndefined();
      const back = await pagesBackward(bundles[bundles.length - 1]);
      expect({ query, back }).toEqual({ query, back: [...pages].reverse() });
      // first, from the last page, is page 1 again
      expect(matchRefs(await follow(link(bundles[bundles.length - 1], 'first') as string))).toEqual(pages[0]);
    }
  });

  it_('_sort=-_lastUpdated pages through without gaps or duplicates (the order agrees with meta.lastUpdated)', async () => {
    const expected = observationsOf(synPatient.Bethany).map(refOf).sort();
    const { pages, bundles } = await pagesForward(await search(`Observation?patient=${synPatient.Bethany.id}&_sort=-_lastUpdated&_count=7`));
    const seen = pages.flat();
    expect([...seen].sort()).toEqual(expected);
    expect(new Set(seen).size).toBe(seen.length);
    expect(await pagesBackward(bundles[bundles.length - 1])).toEqual([...pages].reverse());
    const stamps = bundles.flatMap((b) => entries(b, 'match').map((e) => ({ at: Date.parse(e.resource.meta.lastUpdated), id: e.resource.id as string })));
    for (let i = 1; i < stamps.length; i++) {
      const [a, b] = [stamps[i - 1], stamps[i]];
      expect(a.at > b.at || (a.at === b.at && a.id < b.id)).toBe(true);
    }
  });

  it_('ties and resources without a value are paged through without gaps, in both directions', async () => {
    for (const spec of ['date', '-date']) {
      const expected = sortBy(pagingSet(), spec).map(refOf);
      expect(expected.slice(-2).sort()).toEqual([own.pageNone1, own.pageNone2].map(refOf).sort());
      const query = `Observation?code=${CS}|paging&_sort=${spec}&_count=4`;
      const { pages, bundles } = await pagesForward(await search(query));
      expect({ spec, pages }).toEqual({ spec, pages: chunk(expected, 4) });
      const back = await pagesBackward(bundles[bundles.length - 1]);
      expect({ spec, back }).toEqual({ spec, back: [...pages].reverse() });
      // Page links carry the search and the page size.
      const next = new URL(link(bundles[0], 'next') as string);
      expect(next.searchParams.get('_sort')).toBe(spec);
      expect(next.searchParams.get('_count')).toBe('4');
      expect(next.searchParams.get('code')).toBe(`${CS}|paging`);
    }
  });

  it_('pages reached by cursor are stable while resources are created and deleted', async () => {
    const days = ['2005-01-01', '2005-01-02', '2005-01-03', '2005-01-04', '2005-01-05', '2005-01-06', '2005-01-07', '2005-01-08', '2005-01-09'];
    const made = await transaction(txOf(days.map((d) => obs('stable', { effectiveDateTime: d }))));
    const query = `Observation?code=${CS}|stable&_sort=date&_count=3`;
    const page1 = await search(query);
    expect(matchRefs(page1)).toEqual(made.slice(0, 3).map(refOf));
    expect(page1.total).toBe(9);

    // Created after page 1 was read: one sorting before the cursor, one after it; one later resource deleted.
    const [before, between] = await transaction(txOf([obs('stable', { effectiveDateTime: '2004-12-31' }), obs('stable', { effectiveDateTime: '2005-01-05T12:00:00Z' })]));
    expect((await api.delete(`Observation/${made[7].id}`)).status).toBe(200);
    stored.splice(stored.indexOf(made[7]), 1);

    const { pages } = await pagesForward(page1);
    const seen = pages.flat();
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...made.slice(0, 5), between, made[5], made[6], made[8]].map(refOf));
    expect(seen).not.toContain(refOf(before));
    // A new search sees everything, in order.
    const fresh = await pagesForward(await search(query));
    expect(fresh.pages.flat()).toEqual([before, ...made.slice(0, 5), between, made[5], made[6], made[8]].map(refOf));
  });
});

describe('links', () => {
  it_('self gives the same page again; a cursor of another search or a forged one is refused', async () => {
    const query = `Observation?patient=${synPatient.Patria.id}&_count=7&_sort=-date`;
    const first = await search(query);
    const second = await follow(link(first, 'next') as string);
    const self = link(second, 'self') as string;
    expect(new URL(self).searchParams.get('_cursor')).toBeTruthy();
    expect(matchRefs(await follow(self))).toEqual(matchRefs(second));
    expect(matchRefs(await follow(link(first, 'self') as string))).toEqual(matchRefs(first));

    const cursor = new URL(link(first, 'next') as string).searchParams.get('_cursor') as string;
    const res = await api.get(`Observation?patient=${synPatient.Patria.id}&_count=7&_sort=-date,code&_cursor=${cursor}`);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it_('links keep escaped commas, modifiers, chains and non-ASCII values', async () => {
    const orgs = ofType('Organization').filter((o) => norm(o.name).startsWith('alpha,beta') || norm(o.name).startsWith('beta'));
    expect(orgs).toHaveLength(2);
    const { pages } = await pagesForward(await search('Organization?name=alpha\\,beta,beta&_count=1'));
    expect(pages.flat()).toEqual(sortBy(orgs, '_id').map(refOf));

    const patients = ofType('Patient').filter((p) => (p.name ?? []).some((n: Json) => norm(n.family ?? '').startsWith('arger')));
    expect(patients).toHaveLength(2);
    const accented = await pagesForward(await search(`Patient?family=${encodeURIComponent('ÄRGER')}&_count=1&_sort=-birthdate`));
    expect(accented.pages.flat()).toEqual(sortBy(patients, '-birthdate').map(refOf));
    const exact = await pagesForward(await search(`Patient?family:exact=${encodeURIComponent('Ärger')}&_count=1`));
    expect(exact.pages.flat()).toEqual([refOf(own.pZoe1)]);

    const chained = ofType('Observation').filter((o) => o.subject?.reference === refOf(synPatient.Desmond) && o.code.coding.some((c: Json) => ['8302-2', '29463-7'].includes(c.code)));
    const viaChain = await pagesForward(await search(`Observation?subject:Patient.name=desmond&code=${LOINC}|8302-2,${LOINC}|29463-7&_count=3&_sort=date`));
    expect(viaChain.pages.flat()).toEqual(sortBy(chained, 'date').map(refOf));
  });

  it_('system-level searches page forwards and backwards too (by type, then id)', async () => {
    const expected = sortBy([...ofType('Patient'), ...ofType('Condition'), ...ofType('AllergyIntolerance')], '').map(refOf);
    const { pages, bundles } = await pagesForward(await search('?_type=Patient,Condition,AllergyIntolerance&_count=4'));
    expect(pages).toEqual(chunk(expected, 4));
    expect(bundles[0].total).toBe(expected.length);
    expect(await pagesBackward(bundles[bundles.length - 1])).toEqual([...pages].reverse());
  });

  it_('the pages of a POST _search are followed with GET', async () => {
    const expected = sortBy(observationsOf(synPatient.Desmond), 'date').map(refOf);
    const form = new URLSearchParams({ patient: synPatient.Desmond.id, _sort: 'date', _count: '11' }).toString();
    const first = searchset(await api.post('Observation/_search', form, 'application/x-www-form-urlencoded'), 'POST _search');
    expect(first.total).toBe(expected.length);
    const { pages } = await pagesForward(first);
    expect(pages).toEqual(chunk(expected, 11));
  });
});

describe('_total', () => {
  it_('exact on the first page by default, omitted on pages reached by cursor unless _total=accurate, omitted with _total=none', async () => {
    const desmond = observationsOf(synPatient.Desmond);
    const first = await search(`Observation?patient=${synPatient.Desmond.id}&_count=5`);
    expect(first.total).toBe(desmond.length);
    const second = await follow(link(first, 'next') as string);
    expect(second.total).toBeUndefined();
    expect(matchRefs(second)).toHaveLength(5);
    const previous = await follow(link(second, 'previous') as string);
    expect(previous.total).toBeUndefined();
    expect(matchRefs(previous)).toEqual(matchRefs(first));

    const accurate = await search(`Observation?patient=${synPatient.Desmond.id}&_count=5&_total=accurate`);
    expect(accurate.total).toBe(desmond.length);
    const accurate2 = await follow(link(accurate, 'next') as string);
    expect(accurate2.total).toBe(desmond.length);

    const none = await search(`Observation?patient=${synPatient.Desmond.id}&_count=5&_total=none`);
    expect(none.total).toBeUndefined();
    expect(matchRefs(none)).toEqual(matchRefs(first));
  });
});

describe('_summary and _elements', () => {
  const hasSubsetted = (r: Json) => ((r.meta?.tag ?? []) as Json[]).some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code);
  const withoutMeta = (r: Json) => {
    const { meta: _m, ...rest } = r;
    return rest;
  };

  it_('_summary=count: the total only', async () => {
    const expected = ofType('Observation').filter((o) => (o.code?.coding ?? []).some((c: Json) => c.system === LOINC && c.code === '8302-2'));
    const bundle = await search(`Observation?code=${LOINC}|8302-2&_summary=count`);
    expect(bundle.total).toBe(expected.length);
    // No empty `entry` array (json.html: arrays are never empty).
    expect('entry' in bundle).toBe(false);
  });

  it_('_summary=true: only the elements marked summary, tagged SUBSETTED', async () => {
    const source = synPatient.Bethany;
    const bundle = await search(`Patient?_id=${source.id}&_summary=true`);
    const r = entries(bundle, 'match')[0].resource as Json;
    const expected = Object.fromEntries(Object.entries(source).filter(([k]) => PATIENT_SUMMARY.includes(k) && k !== 'meta'));
    expect(withoutMeta(r)).toEqual({ resourceType: 'Patient', ...expected });
    for (const gone of ['text', 'extension', 'maritalStatus', 'multipleBirthBoolean', 'communication']) expect(source[gone]).toBeDefined();
    expect(hasSubsetted(r)).toBe(true);
  });

  it_('_summary=text: text, id and meta (Patient has no mandatory elements)', async () => {
    const source = synPatient.Bethany;
    const r = entries(await search(`Patient?_id=${source.id}&_summary=text`), 'match')[0].resource as Json;
    expect(withoutMeta(r)).toEqual({ resourceType: 'Patient', id: source.id, text: source.text });
    expect(hasSubsetted(r)).toBe(true);
  });

  it_('_summary=text keeps the mandatory top-level elements too (Observation.status and .code)', async () => {
    const source = observationsOf(synPatient.Desmond)[0];
    const r = entries(await search(`Observation?_id=${source.id}&_summary=text`), 'match')[0].resource as Json;
    expect(withoutMeta(r)).toEqual({ resourceType: 'Observation', id: source.id, status: source.status, code: source.code, ...(source.text ? { text: source.text } : {}) });
  });

  it_('_summary=data: everything but the text; _summary=false: the whole resource', async () => {
    const source = synPatient.Patria;
    const data = entries(await search(`Patient?_id=${source.id}&_summary=data`), 'match')[0].resource as Json;
    const { text: _text, ...rest } = source;
    expect(withoutMeta(data)).toEqual(withoutMeta(rest));
    expect(hasSubsetted(data)).toBe(true);
    const full = entries(await search(`Patient?_id=${source.id}&_summary=false`), 'match')[0].resource as Json;
    expect(withoutMeta(full)).toEqual(withoutMeta(source));
    expect(hasSubsetted(full)).toBe(false);
  });

  it_('_elements: only the elements asked for, plus id and meta (Patient has no mandatory element), tagged SUBSETTED', async () => {
    const patients = ofType('Patient');
    const bundle = await search('Patient?_elements=birthDate,gender&_sort=_id');
    const got = entries(bundle, 'match').map((e) => e.resource as Json);
    const expected = sortBy(patients, '_id').map((p) => ({
      resourceType: 'Patient',
      id: p.id,
      ...(p.birthDate ? { birthDate: p.birthDate } : {}),
      ...(p.gender ? { gender: p.gender } : {}),
    }));
    expect(got.map(withoutMeta)).toEqual(expected);
    for (const r of got) expect(hasSubsetted(r)).toBe(true);
  });
});

describe('_include and _revinclude', () => {
  const lipidCodes = ['2093-3', '2571-8'];
  const patriaLipids = () => observationsOf(synPatient.Patria).filter((o) => o.code.coding.some((c: Json) => lipidCodes.includes(c.code)));
  const lipidQuery = () => `Observation?patient=${synPatient.Patria.id}&code=${lipidCodes.map((c) => `${LOINC}|${c}`).join(',')}&_count=1000`;
  const refsIn = (resources: Json[], pick: (r: Json) => Array<string | undefined>) => [...new Set(resources.flatMap(pick).filter((x): x is string => !!x))].sort();

  it_('_include=Observation:subject (also with a target type) adds each referenced resource once, as include', async () => {
    const matches = patriaLipids();
    expect(matches.length).toBeGreaterThan(1);
    for (const include of ['Observation:subject', 'Observation:subject:Patient', 'Observation:patient']) {
      const bundle = await search(`${lipidQuery()}&_include=${include}`);
      expect(matchRefs(bundle).sort()).toEqual(matches.map(refOf).sort());
      expect({ include, included: includeRefs(bundle) }).toEqual({ include, included: [refOf(synPatient.Patria)] });
    }
    const none = await search(`${lipidQuery()}&_include=Observation:subject:Group`);
    expect(includeRefs(none)).toEqual([]);
  });

  it_('_include=Observation:* (and _include=*) follows every reference parameter', async () => {
    const matches = patriaLipids();
    for (const include of ['Observation:*', '*:*', '*']) {
      const bundle = await search(`${lipidQuery()}&_include=${include}`);
      expect(bundle.total).toBe(matches.length); // the total counts matches only
      expect({ include, included: includeRefs(bundle).sort() }).toEqual({ include, included: refsIn(matches, (o) => [o.subject?.reference, o.encounter?.reference]) });
    }
  });

  it_('_revinclude adds the resources that refer to the matches', async () => {
    const desmond = synPatient.Desmond;
    const bundle = await search(`Patient?_id=${desmond.id}&_revinclude=Observation:subject&_revinclude=Condition:subject`);
    expect(matchRefs(bundle)).toEqual([refOf(desmond)]);
    const expected = [...ofType('Observation'), ...ofType('Condition')].filter((r) => r.subject?.reference === refOf(desmond));
    expect(includeRefs(bundle).sort()).toEqual(expected.map(refOf).sort());

    const reports = ofType('DiagnosticReport');
    const matches = patriaLipids();
    const withReports = await search(`${lipidQuery()}&_revinclude=DiagnosticReport:result`);
    const expectedReports = reports.filter((d) => (d.result ?? []).some((r: Json) => matches.some((m) => refOf(m) === r.reference)));
    expect(expectedReports.length).toBeGreaterThan(0);
    expect(includeRefs(withReports).sort()).toEqual(expectedReports.map(refOf).sort());
  });

  it_(':iterate follows includes of included resources; without it they are not followed', async () => {
    const reports = ofType('DiagnosticReport').filter((d) => d.subject.reference === refOf(synPatient.Patria) && d.code.coding.some((c: Json) => c.code === '57698-3'));
    expect(reports.length).toBeGreaterThan(0);
    const results = refsIn(reports, (d) => (d.result ?? []).map((r: Json) => r.reference));
    const resultEncounters = refsIn(results.map((r) => byRef.get(r) as Json), (o) => [o.encounter?.reference]);
    const practitioners = refsIn(resultEncounters.map((r) => byRef.get(r) as Json), (e) => (e.participant ?? []).map((p: Json) => p.individual?.reference));
    expect(practitioners.length).toBeGreaterThan(0);
    const base = `DiagnosticReport?patient=${synPatient.Patria.id}&code=57698-3&_count=1000&_include=DiagnosticReport:result`;

    const plain = await search(`${base}&_include=Observation:encounter`);
    expect(matchRefs(plain).sort()).toEqual(reports.map(refOf).sort());
    expect(includeRefs(plain).sort()).toEqual(results);

    const iterated = await search(`${base}&_include:iterate=Observation:encounter&_include:iterate=Encounter:participant`);
    expect(matchRefs(iterated).sort()).toEqual(reports.map(refOf).sort());
    const included = includeRefs(iterated);
    expect(new Set(included).size).toBe(included.length);
    expect(included.sort()).toEqual([...results, ...resultEncounters, ...practitioners].sort());
  });

  it_('_revinclude:iterate, and a resource reached by two includes appears once', async () => {
    const desmond = synPatient.Desmond;
    const encounters = ofType('Encounter').filter((e) => e.subject.reference === refOf(desmond));
    const encounterRefs = new Set(encounters.map(refOf));
    const observations = ofType('Observation').filter((o) => encounterRefs.has(o.encounter?.reference));
    const bundle = await search(`Patient?_id=${desmond.id}&_revinclude=Encounter:subject&_revinclude:iterate=Observation:encounter`);
    expect(matchRefs(bundle)).toEqual([refOf(desmond)]);
    expect(includeRefs(bundle).sort()).toEqual([...encounters, ...observations].map(refOf).sort());

    const twice = await search(`Patient?_id=${desmond.id}&_revinclude=Observation:subject&_revinclude=Observation:patient`);
    const included = includeRefs(twice);
    expect(new Set(included).size).toBe(included.length);
    expect(included.sort()).toEqual(observationsOf(desmond).map(refOf).sort());
  });

  it_('includes come with the page of matches they belong to', async () => {
    const bundle = await search(`Observation?patient=${synPatient.Bethany.id}&_count=3&_sort=date&_include=Observation:encounter`);
    const page = sortBy(observationsOf(synPatient.Bethany), 'date').slice(0, 3);
    expect(matchRefs(bundle)).toEqual(page.map(refOf));
    expect(includeRefs(bundle).sort()).toEqual(refsIn(page, (o) => [o.encounter?.reference]));
    for (const e of entries(bundle, 'include')) expect(e.fullUrl).toBe(`${t.baseUrl}/fhir/${refOf(e.resource)}`);
  });
});

describe('fhir-kit-client', () => {
  it_('searches and pages with nextPage to the end', async () => {
    const client = fhirKitClient(t.baseUrl, t.token);
    const patria = synPatient.Patria;
    let bundle = (await client.search({ resourceType: 'Observation', searchParams: { patient: patria.id, _sort: 'date', _count: 9 } })) as Json;
    expect(bundle.total).toBe(observationsOf(patria).length);
    const refs = matchRefs(bundle);
    for (;;) {
      const next = client.nextPage({ bundle: bundle as never });
      if (!next) break;
      bundle = (await next) as Json;
      expect(bundle.entry.length).toBeLessThanOrEqual(9);
      refs.push(...matchRefs(bundle));
    }
    expect(refs).toEqual(sortBy(observationsOf(patria), 'date').map(refOf));
  });
});
