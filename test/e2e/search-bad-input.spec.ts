import type { Client } from 'pg';
import type { Response } from 'supertest';
import { FhirRequest, expectOutcome } from '../helpers/fhir-request';
import type { Json } from '../helpers/fhir-api';
import { LOINC, labObservation, patient } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';

/**
 * Hostile and malformed search input. Every answer is either a 400 OperationOutcome whose
 * diagnostics name the parameter (and show no SQL, database error or stack trace), or a correct
 * searchset (usually empty) - never a 500. Hostile strings go to every parameter type, to chains
 * and to _has, by GET and by POST _search; afterwards the data is checked to be intact, and LIKE
 * wildcards are checked to be matched literally.
 */

const FORM = 'application/x-www-form-urlencoded';

let t: TestApp;
let api: FhirRequest;
let pg: Client;

const ids = {} as { known: string; promo: string; obrien: string; obs: string; risk: string; valueSet: string };
/** What the database holds once the fixture is made, to compare with after the hostile requests. */
const baseline = {} as { patientTotal: number; patientRows: number; fhirPatientRows: number; known: Json; obs: Json };

/** Hostile strings, sent as values (and, further down, as parameter names). */
const HOSTILE: Array<[string, string]> = [
  ['single quote', "'"],
  ['two single quotes', "''"],
  ['SQL injection', "'; DROP TABLE patients; --"],
  ['SQL injection in a quoted identifier', '"; DROP TABLE fhir_patient_resource; --'],
  ['SQL tautology', "' OR '1'='1"],
  ['dollar quoting', '$$; DROP TABLE patients; $$'],
  ['comment', '--'],
  ['semicolon', ';'],
  ['percent', '%'],
  ['underscore', '_'],
  ['percent and underscore', '%_%'],
  ['backslash', '\\'],
  ['two backslashes', '\\\\'],
  ['escaped separators', '\\,\\|\\$'],
  ['regex characters', '.*[](){}^$|?+'],
  ['regex characters with a comma', 'a,.*'],
  ['JSON', '{"$ne":null}'],
  ['10,000 characters', 'a'.repeat(10000)],
  ['10,000 single quotes', "'".repeat(10000)],
  ['10,000 percents', '%'.repeat(10000)],
  ['emoji', '😀🔥👩‍⚕️'],
  ['right-to-left text', 'مرحبا שלום'],
  ['combining accents', 'Zoe\u0301 Mu\u0308ller'],
  ['NUL', '\u0000'],
  ['NUL inside', 'Known\u0000family'],
  ['control characters', '\u0001\u001f\u007f'],
  ['replacement character', '\uFFFD'],
];

/** Where the hostile values go: parameters of every type, chains, _has and the result parameters. */
interface Target {
  label: string;
  /** The searched type; undefined for a system-level search. */
  type?: string;
  name: string;
  /** Builds the value from a hostile string (default: as it is). */
  value?: (h: string) => string;
}

const TARGETS: Target[] = [
  // string
  { label: 'string', type: 'Patient', name: 'name' },
  { label: 'string', type: 'Patient', name: 'family' },
  { label: 'string :exact', type: 'Patient', name: 'name:exact' },
  { label: 'string :contains', type: 'Patient', name: 'name:contains' },
  { label: 'string (kept secret, matched by hash)', type: 'Patient', name: 'address' },
  { label: 'string :missing', type: 'Patient', name: 'name:missing' },
  // token
  { label: 'token', type: 'Patient', name: 'gender' },
  { label: 'token system|code', type: 'Observation', name: 'code', value: (h) => `${h}|${h}` },
  { label: 'token with a system', type: 'Observation', name: 'code', value: (h) => `${LOINC}|${h}` },
  { label: 'token :not', type: 'Observation', name: 'code:not' },
  { label: 'token :text', type: 'Observation', name: 'code:text' },
  { label: 'token (kept secret, matched by hash)', type: 'Patient', name: 'identifier' },
  { label: 'token (secret) system|value', type: 'Patient', name: 'identifier', value: (h) => `http://hl7.org/fhir/sid/us-ssn|${h}` },
  // reference
  { label: 'reference', type: 'Observation', name: 'subject' },
  { label: 'reference Type/id', type: 'Observation', name: 'subject', value: (h) => `Patient/${h}` },
  { label: 'reference absolute URL', type: 'Observation', name: 'subject', value: (h) => `http://example.org/fhir/Patient/${h}` },
  { label: 'reference :Type', type: 'Observation', name: 'subject:Patient' },
  { label: 'reference :identifier', type: 'Observation', name: 'subject:identifier' },
  { label: 'reference', type: 'Patient', name: 'general-practitioner' },
  // date
  { label: 'date', type: 'Patient', name: 'birthdate' },
  { label: 'date with a prefix', type: 'Observation', name: 'date', value: (h) => `ge${h}` },
  { label: 'date after a valid date', type: 'Observation', name: 'date', value: (h) => `2021-03-04${h}` },
  { label: '_lastUpdated', type: 'Patient', name: '_lastUpdated' },
  // number
  { label: 'number', type: 'RiskAssessment', name: 'probability' },
  { label: 'number with a prefix', type: 'RiskAssessment', name: 'probability', value: (h) => `gt${h}` },
  // quantity
  { label: 'quantity', type: 'Observation', name: 'value-quantity' },
  { label: 'quantity number|system|code', type: 'Observation', name: 'value-quantity', value: (h) => `142|${h}|${h}` },
  { label: 'quantity with a prefix', type: 'Observation', name: 'value-quantity', value: (h) => `le${h}||mg/dL` },
  // uri
  { label: 'uri', type: 'ValueSet', name: 'url' },
  { label: 'uri :below', type: 'ValueSet', name: 'url:below' },
  { label: 'uri :above', type: 'ValueSet', name: 'url:above' },
  { label: 'uri :below after a valid prefix', type: 'ValueSet', name: 'url:below', value: (h) => `http://example.org/${h}` },
  // composite
  { label: 'composite (token$quantity)', type: 'Observation', name: 'code-value-quantity', value: (h) => `${h}$${h}` },
  { label: 'composite, hostile token', type: 'Observation', name: 'code-value-quantity', value: (h) => `${LOINC}|${h}$142` },
  { label: 'composite, hostile quantity', type: 'Observation', name: 'code-value-quantity', value: (h) => `${LOINC}|2339-0$${h}` },
  { label: 'composite as given', type: 'Observation', name: 'component-code-value-quantity' },
  // chains
  { label: 'chain to a string', type: 'Observation', name: 'subject.name' },
  { label: 'chain with a type to a string', type: 'Observation', name: 'subject:Patient.family' },
  { label: 'chain to a date', type: 'Observation', name: 'subject:Patient.birthdate' },
  { label: 'chain to a token', type: 'Observation', name: 'subject:Patient.gender' },
  { label: 'chain to a secret token', type: 'Observation', name: 'subject:Patient.identifier' },
  { label: 'chain to _id', type: 'Observation', name: 'subject:Patient._id' },
  { label: 'chain of two', type: 'Observation', name: 'subject:Patient.general-practitioner.name' },
  // reverse chains
  { label: '_has to a token', type: 'Patient', name: '_has:Observation:patient:code' },
  { label: '_has to a quantity', type: 'Patient', name: '_has:Observation:subject:value-quantity' },
  { label: '_has to a chain', type: 'Patient', name: '_has:Observation:subject:performer.name' },
  { label: 'nested _has', type: 'Practitioner', name: '_has:Patient:general-practitioner:_has:Observation:patient:code' },
  // special and result parameters
  { label: '_id', type: 'Patient', name: '_id' },
  { label: '_id :not', type: 'Patient', name: '_id:not' },
  { label: '_sort', type: 'Patient', name: '_sort' },
  { label: '_count', type: 'Patient', name: '_count' },
  { label: '_cursor', type: 'Patient', name: '_cursor' },
  { label: '_total', type: 'Patient', name: '_total' },
  { label: '_summary', type: 'Patient', name: '_summary' },
  { label: '_elements', type: 'Patient', name: '_elements' },
  { label: '_include', type: 'Observation', name: '_include' },
  { label: '_include source:param', type: 'Observation', name: '_include', value: (h) => `Observation:${h}` },
  { label: '_revinclude', type: 'Patient', name: '_revinclude' },
  { label: '_type (system level)', name: '_type' },
  { label: '_type with a valid type (system level)', name: '_type', value: (h) => `Patient,${h}` },
];

/** Database and runtime words that must never reach a client (checked case-insensitively). */
const LEAK = /syntax error|\brelation\b|\bcolumn\b|invalid input syntax|invalid byte sequence|out of range for type|violates|duplicate key|unterminated|\bpg_|postgres|sqlstate|\bERROR:|\bat [\w.<>]+ \(|\.[jt]s:\d+|node_modules|stack|TypeError|RangeError|undefined|\[object Object\]/i;
/** SQL keywords, as the database or a query builder would write them (checked case-sensitively). */
const SQL = /\b(SELECT|INSERT|UPDATE|DELETE|WHERE|FROM|EXISTS|UNION|LIKE|ILIKE|ANY)\b|::(text|numeric|timestamptz)/;

/** Every hostile string and each of its first 80 characters (messages cut long values there), longest first. */
const ECHOES = [...new Set(HOSTILE.flatMap(([, h]) => [h, h.slice(0, 80)]))].sort((a, b) => b.length - a.length);

/** The text of an OperationOutcome without what the request itself sent (messages may quote it). */
function ownText(body: Json, sent: string[]): string {
  let text = ((body.issue ?? []) as Json[]).map((i) => [i.diagnostics, i.details?.text, ...(i.expression ?? [])].filter(Boolean).join(' ')).join('\n');
  for (const s of [...sent.flatMap((x) => [x, x.slice(0, 80)]), ...ECHOES].sort((a, b) => b.length - a.length)) {
    if (s) text = text.split(s).join(' ');
  }
  return text;
}

/**
 * Whether a message names the parameter `name`: one of its parts (`subject:Patient.name` ->
 * subject, Patient, name) appears in it, a one-character part only in quotes. NUL characters (which
 * a message may drop) do not count; a name that is nothing else need not be named.
 */
function namesParameter(text: string, name: string): boolean {
  const clean = name.replace(/\u0000/g, '');
  if (!clean.trim()) return true;
  const parts = [clean, ...clean.split(/[:.]/)].map((p) => p.slice(0, 80)).filter((p) => p.trim());
  return parts.some((p) => (p.trim().length >= 2 ? text.includes(p) : text.includes(`"${p}"`)));
}

/**
 * What is wrong with an answer to a search for `type` with parameter `name` (empty: nothing).
 * A 400 must be an OperationOutcome naming the parameter with no SQL, database error or stack
 * in it; a 200 must be a searchset of `type`.
 */
function problems(res: Response, name: string, value: string, type?: string): string[] {
  const out: string[] = [];
  const body = res.body as Json;
  if (res.status === 400) {
    if (!/^application\/fhir\+json/.test(res.headers['content-type'] ?? '')) out.push(`content type ${res.headers['content-type']}`);
    if (body?.resourceType !== 'OperationOutcome' || !body.issue?.length) return [...out, `400 without an OperationOutcome: ${JSON.stringify(body).slice(0, 300)}`];
    if (!['error', 'fatal'].includes(body.issue[0].severity)) out.push(`severity ${body.issue[0].severity}`);
    const diagnostics = (body.issue as Json[]).map((i) => `${i.diagnostics ?? ''} ${i.details?.text ?? ''} ${(i.expression ?? []).join(' ')}`).join(' ');
    if (!diagnostics.trim()) out.push('400 with no diagnostics');
    else if (!namesParameter(diagnostics, name)) out.push(`400 does not name the parameter: ${diagnostics.slice(0, 300)}`);
    const own = ownText(body, [name, value]);
    if (LEAK.test(own) || SQL.test(own)) out.push(`400 leaks internals: ${own.slice(0, 300)}`);
    return out;
  }
  if (res.status !== 200) {
    const text = JSON.stringify(body).slice(0, 300);
    return [`HTTP ${res.status}${body?.resourceType === 'OperationOutcome' ? '' : ' (not an OperationOutcome)'}: ${text}`];
  }
  if (body?.resourceType !== 'Bundle' || body.type !== 'searchset') return [`200 that is not a searchset: ${JSON.stringify(body).slice(0, 300)}`];
  for (const e of (body.entry ?? []) as Json[]) {
    if (e.search?.mode === 'match' && type && e.resource?.resourceType !== type) out.push(`a match of type ${e.resource?.resourceType}`);
    if (e.search?.mode === 'outcome') {
      const own = ownText(e.resource, [name, value]);
      if (LEAK.test(own) || SQL.test(own)) out.push(`outcome entry leaks internals: ${own.slice(0, 300)}`);
    }
  }
  return out;
}

/** Runs the jobs, a few at a time, and returns their results in order. */
async function inParallel<T>(jobs: Array<() => Promise<T>>, width = 6): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return results;
}

function searchPath(type: string | undefined): string {
  return type ?? '';
}

/** GET with the parameter in the query (when the URL stays well under Node's header limit). */
async function viaGet(type: string | undefined, name: string, value: string, headers: Record<string, string> = {}): Promise<Response | undefined> {
  const query = `${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
  // Node refuses request heads over 16 KiB itself (431, before the application): such values go by POST only.
  if (query.replace(/[^A-Za-z0-9%]/g, '%XX').length > 12000) return undefined;
  let req = api.get(`/fhir${type ? `/${type}` : ''}?${query}`);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  return req;
}

/** POST [type]/_search (or [base]/_search) with the parameter in a form body. */
async function viaPost(type: string | undefined, name: string, value: string, headers: Record<string, string> = {}): Promise<Response> {
  let req = api.post(`${type ? `${type}/` : ''}_search`, new URLSearchParams([[name, value]]).toString(), FORM);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  return req;
}

/** Sends name=value both ways and returns every problem, labelled with the request. */
async function sweep(type: string | undefined, name: string, value: string, label: string, headers: Record<string, string> = {}): Promise<string[]> {
  const out: string[] = [];
  const get = await viaGet(type, name, value, headers);
  const shown = `${name}=${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…(${value.length})` : value)}`;
  if (get) for (const p of problems(get, name, value, type)) out.push(`GET ${searchPath(type)}?${shown} [${label}]: ${p}`);
  const post = await viaPost(type, name, value, headers);
  for (const p of problems(post, name, value, type)) out.push(`POST ${searchPath(type)}/_search ${shown} [${label}]: ${p}`);
  // The two ways must agree.
  if (get && get.status !== post.status) out.push(`GET and POST disagree for ${shown} [${label}]: ${get.status} vs ${post.status}`);
  return out;
}

/** Type/id of the matches of a searchset. */
function matches(body: Json): string[] {
  return ((body.entry ?? []) as Json[]).filter((e) => e.search?.mode === 'match').map((e) => `${e.resource.resourceType}/${e.resource.id}`);
}

async function search(path: string, headers: Record<string, string> = {}): Promise<Response> {
  let req = api.get(path);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  return req;
}

/** A 200 searchset; returns its matches. */
async function found(path: string): Promise<string[]> {
  const res = await search(path);
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
  return matches(res.body);
}

/** A 400 OperationOutcome whose diagnostics name `word` and leak nothing. */
async function rejected(path: string, word: string | RegExp, headers: Record<string, string> = {}): Promise<Json> {
  const res = await search(path, headers);
  const oo = expectOutcome(res, 400);
  const text = ((oo.issue as Json[]) ?? []).map((i) => i.diagnostics ?? '').join(' ');
  if (typeof word === 'string') expect(text).toContain(word);
  else expect(text).toMatch(word);
  const own = ownText(oo, [decodeURIComponent(path)]);
  expect(own).not.toMatch(LEAK);
  expect(own).not.toMatch(SQL);
  return oo;
}

async function patientTotal(): Promise<number> {
  const res = await api.get('Patient?_summary=count');
  expect(res.status).toBe(200);
  return res.body.total as number;
}

beforeAll(async () => {
  t = await startTestApp();
  api = FhirRequest.of(t);
  pg = await rawClient(t.db.url);
  const create = async (r: Json): Promise<Json> => {
    const res = await api.post(r.resourceType, r);
    if (res.status !== 201) throw new Error(`create ${r.resourceType} answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  ids.known = (await create(patient({ family: 'Knownfamily', given: 'Kim' }))).id;
  ids.promo = (await create(patient({ family: '50%_off', given: 'Deal' }))).id;
  ids.obrien = (await create(patient({ family: "O'Brien", given: 'Siobhan' }))).id;
  ids.obs = (
    await create(
      labObservation(ids.known, {
        component: [{ code: { coding: [{ system: LOINC, code: '8867-4' }] }, valueQuantity: { value: 88, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' } }],
      }),
    )
  ).id;
  ids.risk = (await create({ resourceType: 'RiskAssessment', status: 'final', subject: { reference: `Patient/${ids.known}` }, prediction: [{ probabilityDecimal: 0.3 }] })).id;
  ids.valueSet = (await create({ resourceType: 'ValueSet', status: 'active', url: 'http://example.org/fhir/ValueSet/50%_off' })).id;
  baseline.patientTotal = await patientTotal();
  baseline.patientRows = Number((await pg.query<{ n: string }>('SELECT count(*) AS n FROM patients')).rows[0].n);
  baseline.fhirPatientRows = Number((await pg.query<{ n: string }>("SELECT count(*) AS n FROM fhir_patient_resource WHERE resource_type = 'Patient'")).rows[0].n);
  baseline.known = (await api.get(`Patient/${ids.known}`)).body;
  baseline.obs = (await api.get(`Observation/${ids.obs}`)).body;
  expect(baseline.patientTotal).toBe(3);
});

afterAll(async () => {
  await pg?.end();
  await t?.close();
});

describe('the fixture is found by well-formed searches (the controls)', () => {
  it('each parameter type finds what it should', async () => {
    expect(await found(`Patient?name=knownfam`)).toEqual([`Patient/${ids.known}`]);
    expect(await found(`Patient?birthdate=1980-04-12&family=Knownfamily`)).toEqual([`Patient/${ids.known}`]);
    expect(await found(`Observation?code=${encodeURIComponent(`${LOINC}|2339-0`)}`)).toEqual([`Observation/${ids.obs}`]);
    expect(await found(`Observation?value-quantity=142`)).toEqual([`Observation/${ids.obs}`]);
    expect(await found(`Observation?date=2021-03-04`)).toEqual([`Observation/${ids.obs}`]);
    expect(await found(`Observation?subject=Patient/${ids.known}`)).toEqual([`Observation/${ids.obs}`]);
    expect(await found(`Observation?code-value-quantity=${encodeURIComponent(`${LOINC}|2339-0$142`)}`)).toEqual([`Observation/${ids.obs}`]);
    expect(await found(`Observation?subject.name=knownfamily`)).toEqual([`Observation/${ids.obs}`]);
    expect(await found(`Patient?_has:Observation:patient:code=2339-0`)).toEqual([`Patient/${ids.known}`]);
    expect(await found(`RiskAssessment?probability=0.3`)).toEqual([`RiskAssessment/${ids.risk}`]);
    expect(await found(`ValueSet?url=${encodeURIComponent('http://example.org/fhir/ValueSet/50%_off')}`)).toEqual([`ValueSet/${ids.valueSet}`]);
  });
});

describe('malformed values are a 400 naming the parameter', () => {
  it('malformed dates', async () => {
    await rejected('Patient?birthdate=2020-13-01', 'birthdate');
    await rejected('Patient?birthdate=2020-02-30', 'birthdate');
    await rejected('Observation?date=gt2020-02-30', 'date');
    await rejected('Observation?date=abc', 'date');
    await rejected('Observation?date=2020-01-01T25:00', 'date');
    await rejected('Observation?date=2020-01-01T23:60', 'date');
    await rejected('Observation?date=2020-1-1', 'date');
    await rejected('Observation?date=xx2020', 'date');
    await rejected('Patient?_lastUpdated=yesterday', '_lastUpdated');
    await rejected('Patient?_lastUpdated=gt2020-13', '_lastUpdated');
    await rejected(`Observation?date=${'9'.repeat(40)}`, 'date');
    // Time-zone offsets beyond R4's -14:00..+14:00.
    await rejected(`Patient?birthdate=${encodeURIComponent('1980-05-10T10:00:00+99:00')}`, 'birthdate');
    await rejected(`Observation?date=${encodeURIComponent('ge2020-01-01T10:00-14:30')}`, 'date');
    expect((await api.get(`Observation?date=${encodeURIComponent('ge2020-01-01T10:00+14:00')}`)).status).toBe(200);
  });

  it('a boolean parameter takes true or false only', async () => {
    await rejected('Patient?active=yes', 'active');
    await rejected('Organization?active=1', 'active');
    for (const v of ['true', 'false']) expect((await api.get(`Patient?active=${v}`)).status).toBe(200);
    expect((await api.get('Patient?active:not=true')).status).toBe(200);
  });

  it('malformed numbers and quantities', async () => {
    await rejected('Observation?value-quantity=abc', 'value-quantity');
    await rejected(`Observation?value-quantity=${encodeURIComponent('5|a|b|c')}`, 'value-quantity');
    await rejected(`Observation?value-quantity=${encodeURIComponent('5|a')}`, 'value-quantity');
    await rejected('Observation?value-quantity=gt', 'value-quantity');
    await rejected('Observation?value-quantity=1e999', 'value-quantity');
    await rejected('RiskAssessment?probability=1e999', 'probability');
    await rejected('RiskAssessment?probability=-1e999', 'probability');
    await rejected('RiskAssessment?probability=NaN', 'probability');
    await rejected('RiskAssessment?probability=Infinity', 'probability');
    await rejected('RiskAssessment?probability=0x10', 'probability');
    await rejected('RiskAssessment?probability=1.2.3', 'probability');
  });

  it('numbers at the edge of the representable are a 400 or a correct (empty) answer', async () => {
    for (const v of ['1e308', '1e-400', `0.${'0'.repeat(400)}1`, '9'.repeat(400), 'gt1e300', 'ap1e308', 'ne-1e-320']) {
      const res = await api.get(`RiskAssessment?probability=${encodeURIComponent(v)}`);
      expect({ v, problems: problems(res, 'probability', v, 'RiskAssessment') }).toEqual({ v, problems: [] });
      if (res.status === 200 && !v.startsWith('ne')) expect({ v, found: matches(res.body) }).toEqual({ v, found: [] });
      const q = await api.get(`Observation?value-quantity=${encodeURIComponent(v)}`);
      expect({ v, problems: problems(q, 'value-quantity', v, 'Observation') }).toEqual({ v, problems: [] });
    }
  });

  it('malformed references, tokens and composites', async () => {
    await rejected(`Observation?subject=${encodeURIComponent('Foo/123')}`, 'subject');
    await rejected(`Observation?subject=${encodeURIComponent('not a reference')}`, 'subject');
    await rejected(`Observation?code-value-quantity=${encodeURIComponent(`${LOINC}|2339-0`)}`, 'code-value-quantity');
    await rejected(`Observation?code-value-quantity=${encodeURIComponent('a$1$2')}`, 'code-value-quantity');
    await rejected('Patient?name=,', 'name');
    await rejected('Patient?name=%20%20', 'name');
    await rejected('Patient?name:missing=maybe', 'name');
  });

  it('a malformed token (more than one |, or neither system nor code) is a 400 naming the parameter', async () => {
    await rejected(`Patient?gender=${encodeURIComponent('a|b|c')}`, 'gender');
    await rejected(`Patient?gender=${encodeURIComponent('|')}`, 'gender');
    await rejected(`Observation?code=${encodeURIComponent('a|b|c')}`, /\bcode\b(?!;)/);
    await rejected(`Patient?identifier=${encodeURIComponent('http://hl7.org/fhir/sid/us-ssn|1|2')}`, 'identifier');
  });
});

describe('modifiers and chains', () => {
  it('an unknown modifier is a 400', async () => {
    await rejected('Patient?name:foo=x', 'foo');
    await rejected('Patient?gender:above=x', 'above');
    await rejected('Patient?birthdate:exact=2020', 'exact');
    await rejected('Patient?name:exact:contains=x', 'name');
    await rejected('Observation?code:in=http://example.org/vs', 'in');
    await rejected('Patient?_id:contains=x', '_id');
    await rejected('Patient?_lastUpdated:missing=true', '_lastUpdated');
  });

  it('a type modifier that is no resource type, or one the reference cannot point to, is a 400', async () => {
    await rejected('Observation?subject:Foo=123', 'subject');
    await rejected('Observation?subject:Practitioner=123', 'subject');
    await rejected('Observation?subject:Foo.name=x', 'subject');
  });

  it('a reference naming a type the parameter can never point to is a 400, not an empty page', async () => {
    // Observation's encounter (R4 clinical-encounter) targets Encounter and EpisodeOfCare only; its patient, Patient only.
    // (That targets, bare ids and absolute URLs still match: search.spec.ts, reference parameters.)
    const targets = /encounter refers only to Encounter or EpisodeOfCare/;
    await rejected('Observation?encounter=Patient/x', targets);
    await rejected('Observation?encounter=Encounter/e,Patient/x', targets);
    await rejected('Observation?patient=Group/x', /patient refers only to Patient/);
    await rejected('Observation?subject:Patient=Group/x', /subject:Patient: Group\/x names a Group, not a Patient/);
    await rejected('Observation?encounter:Patient=x', 'encounter');
    await rejected('Observation?encounter:Patient.name=x', 'encounter');
    await rejected('Observation?encounter.subject=Encounter/x', /subject refers only to/);
    await rejected('Patient?_has:Observation:encounter:code=x', "_has:Observation:encounter: Observation's encounter refers only to Encounter or EpisodeOfCare, never to a Patient");
    await rejected('Observation?_include=Observation:encounter:Patient', /_include=Observation:encounter:Patient: .*never to a Patient/);
    await rejected('Observation?_include:iterate=Observation:encounter:Patient', 'encounter');
    await rejected('Patient?_revinclude=Observation:encounter:Patient', /_revinclude=Observation:encounter:Patient/);
    const post = expectOutcome(await api.post('Observation/_search', 'encounter=Patient/x', FORM), 400);
    expect(JSON.stringify(post)).toMatch(targets);
  });

  it('a chain through a parameter that is not a reference is a 400', async () => {
    await rejected('Patient?name.family=x', 'name');
    await rejected('Observation?code.name=x', 'code');
    await rejected('Observation?date.name=x', 'date');
    await rejected('Patient?_has:Observation:code:status=final', 'code');
  });

  it('chains deeper than the limit are a 400', async () => {
    await rejected('Observation?subject:Patient.link:Patient.link:Patient.link:Patient.link:Patient.link:Patient.name=x', /chain/);
  });

  it('a chain to an unknown parameter: ignored with an outcome entry (lenient) or 400 (strict)', async () => {
    for (const q of ['Observation?subject.foo=x', 'Observation?subject:Patient.foo=x', 'Observation?foo.name=x', 'Patient?_has:Observation:patient:foo=x', 'Patient?_has:Observation:foo:code=x']) {
      const lenient = await api.get(q);
      expect({ q, problems: problems(lenient, q.split('?')[1].split('=')[0], 'x', q.split('?')[0]) }).toEqual({ q, problems: [] });
      expect(lenient.status).toBe(200);
      const outcome = ((lenient.body.entry ?? []) as Json[]).find((e) => e.search?.mode === 'outcome');
      expect({ q, outcome: outcome?.resource?.resourceType }).toEqual({ q, outcome: 'OperationOutcome' });
      expect(JSON.stringify(outcome?.resource)).toContain('foo');
      await rejected(q, 'foo', { Prefer: 'handling=strict' });
    }
  });

  it('malformed _has is a 400', async () => {
    await rejected('Patient?_has:Observation=x', '_has');
    await rejected('Patient?_has:Foo:patient:code=x', 'Foo');
    await rejected('Patient?_has:observation:patient:code=x', '_has');
  });
});

describe('result parameters', () => {
  it('_count beyond the maximum (1000), negative or not a number is a 400; 0 and 1000 are accepted', async () => {
    await rejected('Patient?_count=1001', '_count');
    await rejected('Patient?_count=-1', '_count');
    await rejected('Patient?_count=abc', '_count');
    await rejected('Patient?_count=1.5', '_count');
    await rejected('Patient?_count=99999999999999999999', '_count');
    await rejected('Patient?_count=', '_count');
    await rejected('Patient?_count=5&_count=6', '_count');
    expect(await found('Patient?_count=1000')).toHaveLength(3);
    const zero = await api.get('Patient?_count=0');
    expect(zero.status).toBe(200);
    expect(zero.body.total).toBe(3);
    expect(matches(zero.body)).toEqual([]);
  });

  it('_sort by an unknown parameter, or a malformed _sort, is a 400', async () => {
    await rejected('Patient?_sort=unknownparam', 'unknownparam');
    await rejected('Patient?_sort=-unknownparam', 'unknownparam');
    await rejected('Patient?_sort=name,,birthdate', '_sort');
    await rejected(`Patient?_sort=${encodeURIComponent('name; DROP TABLE patients')}`, '_sort');
    await rejected('/fhir?_sort=name&_type=Patient,Observation', /_sort|name/);
  });

  it('_include and _revinclude of what is not a reference parameter of a resource type are a 400', async () => {
    await rejected('Observation?_include=Foo:bar', 'Foo');
    await rejected('Observation?_include=Observation:code', 'code');
    await rejected('Observation?_include=Observation:nosuch', 'nosuch');
    await rejected('Observation?_include=Observation:subject:Foo', 'Foo');
    await rejected('Observation?_include=subject', '_include');
    await rejected('Observation?_include:foo=Observation:subject', '_include');
    await rejected('Patient?_revinclude=Observation:code', 'code');
    await rejected('Patient?_revinclude=Foo:bar', 'Foo');
  });

  it('a forged or garbled _cursor is a 400', async () => {
    await rejected('Patient?_cursor=garbage', '_cursor');
    await rejected(`Patient?_cursor=${encodeURIComponent("'; DROP TABLE patients; --")}`, '_cursor');
    const forge = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    // The wrong number of values, the wrong direction, not JSON at all.
    await rejected(`Patient?_cursor=${forge({ d: 'n', v: ['Patient'] })}`, '_cursor');
    await rejected(`Patient?_cursor=${forge({ d: 'x', v: ['Patient', 'x'] })}`, '_cursor');
    await rejected(`Patient?_cursor=${forge({ d: 'n', v: [1, 2] })}`, '_cursor');
    await rejected(`Patient?_cursor=${Buffer.from('not json').toString('base64url')}`, '_cursor');
  });

  it('a forged _cursor whose values do not fit the sort keys is a 400 (or an empty page), never a 500', async () => {
    const forge = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const cases: Array<[string, unknown[]]> = [
      ['_sort=_lastUpdated', ["'; DROP TABLE patients; --", 'Patient', 'x']],
      ['_sort=_lastUpdated', ['not a date', 'Patient', 'x']],
      ['_sort=birthdate', ['2020-13-45', 'Patient', 'x']],
      ['_sort=-birthdate', ['tomorrow', 'Patient', 'x']],
      ['_sort=_id', ["'", "'", "'"]],
      ['', ['\u0000', '\u0000']],
    ];
    const out: string[] = [];
    for (const [sort, values] of cases) {
      const path = `Patient?${sort ? `${sort}&` : ''}_cursor=${forge({ d: 'n', v: values })}`;
      const res = await api.get(path);
      for (const p of problems(res, '_cursor', '', 'Patient')) out.push(`GET ${path} (values ${JSON.stringify(values)}): ${p}`);
    }
    const risk = `RiskAssessment?_sort=probability&_cursor=${forge({ d: 'p', v: ['one half', 'RiskAssessment', 'x'] })}`;
    for (const p of problems(await api.get(risk), '_cursor', '', 'RiskAssessment')) out.push(`GET ${risk}: ${p}`);
    expect(out).toEqual([]);
  });

  it('_total, _summary, _elements and _type with values they do not take are a 400', async () => {
    await rejected('Patient?_total=sometimes', '_total');
    await rejected('Patient?_summary=maybe', '_summary');
    await rejected(`Patient?_elements=${encodeURIComponent('name,birth date')}`, '_elements');
    await rejected('/fhir?_type=Foo', 'Foo');
    await rejected('/fhir?_type=Patient,,Observation', '_type');
    await rejected('Patient?_type=Observation', '_type');
  });
});

describe('unknown parameters and Prefer: handling', () => {
  it('lenient (the default): 200, the parameter ignored, and an outcome entry naming it', async () => {
    const res = await api.get('Patient?nosuchparam=x&family=Knownfamily');
    expect(res.status).toBe(200);
    expect(matches(res.body)).toEqual([`Patient/${ids.known}`]);
    const outcomes = (res.body.entry as Json[]).filter((e) => e.search?.mode === 'outcome');
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0].resource.resourceType).toBe('OperationOutcome');
    expect(outcomes[0].resource.issue[0].severity).toMatch(/warning|information/);
    expect(JSON.stringify(outcomes[0].resource)).toContain('nosuchparam');
    // The ignored parameter does not filter: the same answer as without it.
    expect(matches((await api.get('Patient?nosuchparam=x')).body).sort()).toEqual((await found('Patient')).sort());
    // handling=lenient said outright is the same.
    const explicit = await search('Patient?nosuchparam=x', { Prefer: 'handling=lenient' });
    expect(explicit.status).toBe(200);
    expect(JSON.stringify(explicit.body)).toContain('nosuchparam');
  });

  it('Prefer: handling=strict: an unknown parameter is a 400 naming it', async () => {
    await rejected('Patient?nosuchparam=x&family=Knownfamily', 'nosuchparam', { Prefer: 'handling=strict' });
    await rejected('Observation?nosuchparam=x', 'nosuchparam', { Prefer: 'return=minimal, handling=strict' });
    const post = await api.post('Patient/_search', 'nosuchparam=x', FORM).set('Prefer', 'handling=strict');
    expectOutcome(post, 400);
    expect(JSON.stringify(post.body)).toContain('nosuchparam');
    // R4 parameters without an expression (_text, _content, _query) are not supported: the same two answers.
    for (const code of ['_text', '_content', '_query']) {
      await rejected(`Patient?${code}=duck&family=Knownfamily`, code, { Prefer: 'handling=strict' });
      const lenient = await api.get(`Patient?${code}=duck&family=Knownfamily`);
      expect([code, lenient.status, matches(lenient.body)]).toEqual([code, 200, [`Patient/${ids.known}`]]);
      expect(JSON.stringify((lenient.body.entry as Json[]).find((e) => e.search?.mode === 'outcome'))).toContain(`${code} is not supported`);
    }
    // Known parameters pass under strict handling.
    const ok = await search('Patient?family=Knownfamily', { Prefer: 'handling=strict' });
    expect(ok.status).toBe(200);
    expect(matches(ok.body)).toEqual([`Patient/${ids.known}`]);
  });
});

describe('hostile strings', () => {
  it.each(TARGETS.map((tg) => [`${tg.type ?? 'system'} ${tg.name} (${tg.label})`, tg] as const))('as the value of %s', async (_label, tg) => {
    const out = (await inParallel(HOSTILE.map(([label, h]) => () => sweep(tg.type, tg.name, tg.value ? tg.value(h) : h, label)))).flat();
    expect(out).toEqual([]);
  });

  it('as the values of a string parameter, they find nothing (the fixture has no such names)', async () => {
    const out: string[] = [];
    for (const [label, h] of HOSTILE) {
      if (["'", "''", '\\,\\|\\$', 'a,.*'].includes(h)) continue; // O'Brien contains a quote; the comma ones are ORs
      for (const name of ['name', 'name:exact', 'family']) {
        const res = await viaPost('Patient', name, h);
        if (res.status === 200 && matches(res.body).length) out.push(`${name}=${JSON.stringify(h.slice(0, 40))} [${label}] found ${matches(res.body).join(', ')}`);
      }
    }
    expect(out).toEqual([]);
  });

  it('as parameter names: ignored with an outcome entry (lenient), a 400 naming them (strict)', async () => {
    const names = (h: string) => [h, `name:${h}`, `subject.${h}`, `_has:Observation:patient:${h}`, `_has:${h}:patient:code`, `subject:${h}.name`, `${h}.name`];
    const jobs: Array<() => Promise<string[]>> = [];
    for (const [label, h] of HOSTILE) {
      if (!h.trim() || h.length > 1000) continue; // a blank or huge name is checked below
      for (const name of names(h)) {
        const type = name.startsWith('subject') ? 'Observation' : 'Patient';
        jobs.push(() => sweep(type, name, 'x', `${label} as a name`));
        jobs.push(() => sweep(type, name, 'x', `${label} as a name, strict`, { Prefer: 'handling=strict' }));
      }
    }
    expect((await inParallel(jobs)).flat()).toEqual([]);
  });

  it('huge and blank parameter names', async () => {
    const out: string[] = [];
    for (const name of ['a'.repeat(10000), "'".repeat(5000), ' ', '\u0000', `name:${'x'.repeat(10000)}`, `subject.${'y'.repeat(10000)}`]) {
      const post = await viaPost('Observation', name, 'x');
      for (const p of problems(post, name.trim() ? name : 'name', 'x', 'Observation')) out.push(`POST Observation/_search with a name of ${name.length} characters: ${p}`);
    }
    expect(out).toEqual([]);
  });

  it('long OR lists of hostile values', async () => {
    const manyOr = Array.from({ length: 500 }, (_, i) => `'v${i}%_`).join(',');
    const out = (
      await inParallel([
        () => sweep('Patient', 'name', manyOr, '500 ORed hostile strings'),
        () => sweep('Observation', 'code', manyOr, '500 ORed hostile tokens'),
        () => sweep('Patient', '_id', manyOr, '500 ORed ids'),
        () => sweep('Observation', 'subject', manyOr, '500 ORed references'),
      ])
    ).flat();
    expect(out).toEqual([]);
  });

  it('URL-encoded NUL (%00) in the query of a GET', async () => {
    const out: string[] = [];
    for (const q of ['Patient?name=%00', 'Patient?name=a%00b', 'Patient?family:exact=%00', 'Observation?code=%00', 'Observation?subject=%00', 'Observation?date=%00', 'Patient?_id=%00', 'Patient?name%00=x', 'Patient?_has:Observation:patient:code=%00', 'Observation?subject.name=%00', 'ValueSet?url:below=%00', 'RiskAssessment?probability=%00']) {
      const res = await api.get(q);
      const [path, query] = q.split('?');
      const [name, value] = query.split('=').map(decodeURIComponent);
      for (const p of problems(res, name.replace('\u0000', '') || 'name', value, path)) out.push(`GET ${q}: ${p}`);
    }
    expect(out).toEqual([]);
  });

  it('POST _search with a body that is not a form is a 415 OperationOutcome', async () => {
    expectOutcome(await api.post('Patient/_search', { name: "'; DROP TABLE patients; --" }), 415);
    expectOutcome(await api.post('Patient/_search', "name='; DROP TABLE patients; --", 'text/plain'), 415);
  });
});

describe('LIKE wildcards are literal', () => {
  it('% and _ find only names that start with them (none here)', async () => {
    expect(await found('Patient?name=%25')).toEqual([]);
    expect(await found('Patient?name=_')).toEqual([]);
    expect(await found('Patient?family=%25')).toEqual([]);
    expect(await found('Patient?family=_')).toEqual([]);
    expect(await found('Patient?name=%25%25')).toEqual([]);
    expect(await found('Patient?name=5_')).toEqual([]); // `_` would match the 0 of "50%_off"
    expect(await found('Patient?name=%5C')).toEqual([]); // a backslash
  });

  it("name:contains=%_o finds exactly the Patient named 50%_off, and so do its other literal parts", async () => {
    expect(await found(`Patient?name:contains=${encodeURIComponent('%_o')}`)).toEqual([`Patient/${ids.promo}`]);
    expect(await found(`Patient?name:contains=${encodeURIComponent('%')}`)).toEqual([`Patient/${ids.promo}`]);
    expect(await found(`Patient?name:contains=${encodeURIComponent('_')}`)).toEqual([`Patient/${ids.promo}`]);
    expect(await found(`Patient?name=${encodeURIComponent('50%')}`)).toEqual([`Patient/${ids.promo}`]);
    expect(await found(`Patient?name=${encodeURIComponent('50%_off')}`)).toEqual([`Patient/${ids.promo}`]);
    expect(await found(`Patient?name:exact=${encodeURIComponent('50%_off')}`)).toEqual([`Patient/${ids.promo}`]);
    expect(await found(`Patient?name:contains=${encodeURIComponent('0_%')}`)).toEqual([]);
    expect(await found(`Patient?name:exact=${encodeURIComponent('50%')}`)).toEqual([]);
  });

  it("a single quote is a plain character: name=O'Brien finds O'Brien only", async () => {
    expect(await found(`Patient?name=${encodeURIComponent("O'Brien")}`)).toEqual([`Patient/${ids.obrien}`]);
    expect(await found(`Patient?name:contains=${encodeURIComponent("'")}`)).toEqual([`Patient/${ids.obrien}`]);
    expect(await found(`Patient?name:exact=${encodeURIComponent("O'Brien")}`)).toEqual([`Patient/${ids.obrien}`]);
    expect(await found(`Patient?name=${encodeURIComponent("O'Brien' OR '1'='1")}`)).toEqual([]);
  });

  it('uri :below and token :text take % and _ literally too', async () => {
    // :below goes by path segments: .../ValueSet/50%_off is below .../ValueSet, and equal to itself.
    expect(await found(`ValueSet?url:below=${encodeURIComponent('http://example.org/fhir/ValueSet')}`)).toEqual([`ValueSet/${ids.valueSet}`]);
    expect(await found(`ValueSet?url:below=${encodeURIComponent('http://example.org/fhir/ValueSet/50%_off')}`)).toEqual([`ValueSet/${ids.valueSet}`]);
    expect(await found(`ValueSet?url:below=${encodeURIComponent('http://example.org/fhir/Value%')}`)).toEqual([]);
    expect(await found(`ValueSet?url:below=${encodeURIComponent('http://example.org/fhir/ValueSe_')}`)).toEqual([]);
    expect(await found(`ValueSet?url:below=${encodeURIComponent('http://example.org/fhir/ValueSet/5_')}`)).toEqual([]);
    expect(await found(`ValueSet?url:below=${encodeURIComponent('%')}`)).toEqual([]);
    expect(await found(`ValueSet?url:below=${encodeURIComponent('http%')}`)).toEqual([]);
    expect(await found(`Observation?code:text=${encodeURIComponent('%')}`)).toEqual([]);
    expect(await found(`Observation?code:text=${encodeURIComponent('_')}`)).toEqual([]);
    expect(await found(`Observation?code:text=glucose`)).toEqual([`Observation/${ids.obs}`]);
  });
});

describe('the cost of a search', () => {
  it('32 parameters (the most allowed) are answered within 3 seconds', async () => {
    const body = new URLSearchParams(Array.from({ length: 32 }, (_, i): [string, string] => ['name', `x${i}`])).toString();
    const started = Date.now();
    const res = await api.post('Patient/_search', body, FORM);
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
  }, 60000);

  it('150 parameters in one search are answered (a 200, or a 400 for too many) within 3 seconds', async () => {
    const body = new URLSearchParams(Array.from({ length: 150 }, (_, i): [string, string] => ['name', `'x${i}`])).toString();
    const started = Date.now();
    const res = await api.post('Patient/_search', body, FORM);
    const elapsed = Date.now() - started;
    // A refusal names what is wrong: too many parameters.
    expect(problems(res, res.status === 400 ? 'parameters' : 'name', '', 'Patient')).toEqual([]);
    if (res.status === 200) expect(matches(res.body)).toEqual([]);
    // The request is a few kilobytes; its answer must not hold a database connection for long.
    expect(elapsed).toBeLessThan(3000);
  }, 180000);
});

// Runs last (jest runs a file's tests in order): everything above has been sent by now.
describe('after all the hostile requests', () => {
  it('the data is intact: the Patient count, the patients table, a known Patient and Observation', async () => {
    expect(await patientTotal()).toBe(baseline.patientTotal);
    expect(Number((await pg.query<{ n: string }>('SELECT count(*) AS n FROM patients')).rows[0].n)).toBe(baseline.patientRows);
    expect(Number((await pg.query<{ n: string }>("SELECT count(*) AS n FROM fhir_patient_resource WHERE resource_type = 'Patient'")).rows[0].n)).toBe(baseline.fhirPatientRows);
    const known = await api.get(`Patient/${ids.known}`);
    expect(known.status).toBe(200);
    expect(known.body).toEqual(baseline.known);
    expect((await api.get(`Observation/${ids.obs}`)).body).toEqual(baseline.obs);
    expect(await found('Patient?family=Knownfamily')).toEqual([`Patient/${ids.known}`]);
    // Nothing was written by a search: each resource is still at version 1.
    expect(await api.historyTotal('Patient')).toBe(3);
    expect(await api.historyTotal('Observation')).toBe(1);
    // The server is still well (no pool exhausted by failed queries).
    const health = await api.get('metadata');
    expect(health.status).toBe(200);
  });
});
