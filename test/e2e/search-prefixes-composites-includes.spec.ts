import { FhirRequest } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Search fixes, each against resources written here with expectations computed from them:
 * DocumentReference `relationship` (R4's swapped component expressions), `:missing` on composites
 * (all components in one element), sa/eb on numbers and quantities (the value's precision range),
 * includes cut at SEARCH_MAX_INCLUDED (said in an outcome entry) and versioned references included
 * at their version.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const MAX_INCLUDED = 5;
let t: TestApp;
let api: FhirRequest;

beforeAll(async () => {
  t = await startTestApp({ SEARCH_MAX_INCLUDED: String(MAX_INCLUDED) });
  api = FhirRequest.of(t);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

async function put(resource: Json): Promise<Json> {
  const res = await api.put(`${resource.resourceType}/${resource.id}`, resource);
  if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${resource.resourceType}/${resource.id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Json;
}

async function ids(query: string): Promise<string[]> {
  const res = await api.get(query);
  expect(res.status).toBe(200);
  return ((res.body.entry ?? []) as Json[]).filter((e) => e.search?.mode === 'match').map((e) => e.resource.id as string).sort();
}

const doc = (id: string, relatesTo?: Json[]): Json => ({ resourceType: 'DocumentReference', id, status: 'current', content: [{ attachment: { url: `http://x.org/${id}` } }], ...(relatesTo ? { relatesTo } : {}) });

describe('DocumentReference relationship (relatesto$relation)', () => {
  beforeAll(async () => {
    await put(doc('pr-doc1'));
    await put(doc('pr-doc2', [{ code: 'replaces', target: { reference: 'DocumentReference/pr-doc1' } }]));
    await put(doc('pr-doc3', [{ code: 'appends', target: { reference: 'DocumentReference/pr-doc1' } }, { code: 'replaces', target: { reference: 'DocumentReference/pr-doc9' } }]));
  });

  it('matches the target and the code of one relatesTo, in the order of the components', async () => {
    expect(await ids('DocumentReference?relationship=DocumentReference/pr-doc1$replaces')).toEqual(['pr-doc2']);
    expect(await ids('DocumentReference?relationship=pr-doc1$replaces')).toEqual(['pr-doc2']);
    expect(await ids('DocumentReference?relationship=DocumentReference/pr-doc1$appends')).toEqual(['pr-doc3']);
    // pr-doc3 replaces pr-doc9 and appends pr-doc1: not one element with both.
    expect(await ids('DocumentReference?relationship=DocumentReference/pr-doc9$appends')).toEqual([]);
    expect(await ids('DocumentReference?relationship=replaces$DocumentReference/pr-doc1')).toEqual([]);
  });
});

describe(':missing on composites', () => {
  const obs = (id: string, extra: Json): Json => ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'urn:cs', code: 'c1' }] }, ...extra });
  beforeAll(async () => {
    await put(obs('mc-qty', { valueQuantity: { value: 1, system: 'http://unitsofmeasure.org', code: 'mg' } }));
    await put(obs('mc-none', {}));
    await put(obs('mc-concept', { component: [{ code: { coding: [{ system: 'urn:cs', code: 'k' }] }, valueCodeableConcept: { coding: [{ system: 'urn:cs', code: 'v' }] } }] }));
    await put(obs('mc-comp-qty', { component: [{ code: { coding: [{ system: 'urn:cs', code: 'k' }] }, valueQuantity: { value: 2, system: 'http://unitsofmeasure.org', code: 'mg' } }] }));
  });
  const mine = (list: string[]) => list.filter((id) => id.startsWith('mc-'));

  it('code-value-quantity is missing when no element has a code and a quantity', async () => {
    expect(mine(await ids('Observation?code-value-quantity:missing=true&_count=100'))).toEqual(['mc-comp-qty', 'mc-concept', 'mc-none']);
    expect(mine(await ids('Observation?code-value-quantity:missing=false&_count=100'))).toEqual(['mc-qty']);
  });

  it('component-code-value-quantity is present only with a component carrying both', async () => {
    expect(mine(await ids('Observation?component-code-value-quantity:missing=false&_count=100'))).toEqual(['mc-comp-qty']);
    expect(mine(await ids('Observation?component-code-value-quantity:missing=true&_count=100'))).toEqual(['mc-concept', 'mc-none', 'mc-qty']);
  });
});

describe('sa and eb with the value\'s precision (search.html#prefix)', () => {
  const ra = (id: string, p: number): Json => ({ resourceType: 'RiskAssessment', id, status: 'final', subject: { reference: 'Patient/pr-pat' }, prediction: [{ probabilityDecimal: p }] });
  const q = (id: string, v: number): Json => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'q' }, valueQuantity: { value: v, system: 'http://unitsofmeasure.org', code: 'mg' } });
  const probs: Record<string, number> = { 'ra-044': 0.44, 'ra-045': 0.45, 'ra-05': 0.5, 'ra-0549': 0.549, 'ra-055': 0.55, 'ra-06': 0.6 };
  const quantities: Record<string, number> = { 'qa-534': 5.34, 'qa-535': 5.35, 'qa-541': 5.41, 'qa-545': 5.45, 'qa-55': 5.5 };
  beforeAll(async () => {
    await put({ resourceType: 'Patient', id: 'pr-pat' });
    for (const [id, p] of Object.entries(probs)) await put(ra(id, p));
    for (const [id, v] of Object.entries(quantities)) await put(q(id, v));
  });
  // 0.5 stands for [0.45, 0.55), 5.4 for [5.35, 5.45): sa/eb need the value outside that range.
  const where = (values: Record<string, number>, keep: (v: number) => boolean) => Object.keys(values).filter((k) => keep(values[k])).sort();

  it('numbers', async () => {
    expect(await ids('RiskAssessment?probability=sa0.5')).toEqual(where(probs, (v) => v >= 0.55));
    expect(await ids('RiskAssessment?probability=eb0.5')).toEqual(where(probs, (v) => v < 0.45));
  });

  it('quantities', async () => {
    const mine = (list: string[]) => list.filter((id) => id.startsWith('qa-'));
    expect(mine(await ids('Observation?value-quantity=sa5.4|http://unitsofmeasure.org|mg'))).toEqual(where(quantities, (v) => v >= 5.45));
    expect(mine(await ids('Observation?value-quantity=eb5.4|http://unitsofmeasure.org|mg'))).toEqual(where(quantities, (v) => v < 5.35));
  });
});

describe('_include and _revinclude', () => {
  beforeAll(async () => {
    await put({ resourceType: 'Patient', id: 'inc-p' });
    for (let i = 0; i < MAX_INCLUDED + 3; i++) {
      await put({ resourceType: 'Observation', id: `inc-o${i}`, status: 'final', code: { text: 'inc' }, subject: { reference: 'Patient/inc-p' } });
    }
    await put({ resourceType: 'Observation', id: 'pr-q1', status: 'final', code: { text: 'version 1' } });
    await put({ resourceType: 'Observation', id: 'pr-ch3', status: 'final', code: { text: 'derived' }, derivedFrom: [{ reference: 'Observation/pr-q1/_history/1' }] });
    await put({ resourceType: 'Observation', id: 'pr-q1', status: 'final', code: { text: 'version 2' } });
  });

  it('says in an outcome entry when the includes were cut at SEARCH_MAX_INCLUDED', async () => {
    const res = await api.get('Patient?_id=inc-p&_revinclude=Observation:subject');
    expect(res.status).toBe(200);
    const entries = res.body.entry as Json[];
    expect(entries.filter((e) => e.search.mode === 'include')).toHaveLength(MAX_INCLUDED);
    const outcome = entries.find((e) => e.search.mode === 'outcome')?.resource;
    expect(outcome?.issue).toEqual([expect.objectContaining({ severity: 'warning', code: 'too-costly', diagnostics: expect.stringMatching(/first 5 included.*smaller _count/) })]);
  });

  it('adds no outcome entry when every include fits', async () => {
    const res = await api.get('Observation?_id=inc-o0&_include=Observation:subject');
    expect((res.body.entry as Json[]).map((e) => e.search.mode)).toEqual(['match', 'include']);
  });

  describe('a single _include, read in the same statement as the page', () => {
    beforeAll(async () => {
      for (let i = 0; i < MAX_INCLUDED + 3; i++) {
        await put({ resourceType: 'Patient', id: `inc-fp${i}` });
        await put({ resourceType: 'Observation', id: `inc-fo${i}`, status: 'final', code: { coding: [{ system: 'urn:inc', code: 'fwd' }] }, subject: { reference: `Patient/inc-fp${i}` }, derivedFrom: i ? [{ reference: `Observation/inc-fo${i - 1}` }] : undefined });
      }
    });
    const includes = async (query: string) => {
      const res = await api.get(query);
      expect(res.status).toBe(200);
      const entries = res.body.entry as Json[];
      return { ids: entries.filter((e) => e.search.mode === 'include').map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort(), outcome: entries.some((e) => e.search.mode === 'outcome') };
    };

    it('is cut at SEARCH_MAX_INCLUDED with an outcome entry, as the other includes are', async () => {
      const { ids, outcome } = await includes('Observation?code=urn:inc|fwd&_include=Observation:subject&_count=20');
      expect(ids).toHaveLength(MAX_INCLUDED);
      expect(ids.every((id) => id.startsWith('Patient/inc-fp'))).toBe(true);
      expect(outcome).toBe(true);
    });

    it('leaves what is already on the page out before the limit, so that it keeps no other include out', async () => {
      // Every derived-from target is a match on this page; the Patients come after them in (type, id) order.
      const all = await includes('Observation?code=urn:inc|fwd&_include=*&_count=20');
      expect(all.ids).toHaveLength(MAX_INCLUDED);
      expect(all.ids.every((id) => id.startsWith('Patient/inc-fp'))).toBe(true);
      const rev = await includes('Observation?code=urn:inc|fwd&_revinclude=Observation:derived-from&_count=20');
      expect(rev).toEqual({ ids: [], outcome: false });
    });

    it.each(['Observation:subject', 'Observation:subject:Patient', 'Observation:derived-from', '*', 'Observation:subject&_count=3', 'Observation:derived-from&_sort=-_id&_count=2'])(
      '_include=%s gives what it gives beside a _revinclude (read by its own statement)',
      async (spec) => {
        const alone = await includes(`Observation?code=urn:inc|fwd&_include=${spec}`);
        const beside = await includes(`Observation?code=urn:inc|fwd&_include=${spec}&_revinclude=Provenance:target`);
        expect(alone).toEqual(beside);
        // (derived-from names Observations already on the page: nothing more to include.)
        if (spec.includes('subject') || spec === '*') expect(alone.ids.length).toBeGreaterThan(0);
      },
    );
  });

  it('includes the version a versioned reference names', async () => {
    const res = await api.get('Observation?_id=pr-ch3&_include=Observation:derived-from');
    const included = (res.body.entry as Json[]).filter((e) => e.search.mode === 'include').map((e) => e.resource);
    expect(included).toEqual([expect.objectContaining({ id: 'pr-q1', meta: expect.objectContaining({ versionId: '1' }), code: { text: 'version 1' } })]);
    const all = await api.get('Observation?_id=pr-ch3&_include=*');
    expect((all.body.entry as Json[]).filter((e) => e.search.mode === 'include').map((e) => e.resource.code.text)).toEqual(['version 1']);
  });
});
