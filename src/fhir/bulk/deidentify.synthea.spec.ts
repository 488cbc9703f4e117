import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { validateFhirResource } from '../definitions/resource-validator';
import { createDeidentifier, isKnownNamespace } from './deidentify';

/**
 * The de-identification measured over every Synthea bundle in ../shared (25 patients, 9,080
 * resources): nothing that identifies anyone is left, and the clinical content is. Skipped, saying
 * why, when the fixtures are absent.
 */
const ROOT = path.resolve(__dirname, '../../../../shared/fixtures/synthea');
const FILES = ['smart', 'data-pipes'].flatMap((d) => {
  const dir = path.join(ROOT, d);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(dir, f)) : [];
});
const it_ = FILES.length ? it : it.skip;
if (!FILES.length) console.warn(`Synthea fixtures not found at ${ROOT}: skipping the de-identification measure`); // eslint-disable-line no-console

type Json = Record<string, any>;

/** What identifies someone in the input: names, address details, telecom, identifiers, geolocation, ids. */
function secretsOf(node: unknown, out: Set<string>, parentKey = ''): void {
  if (Array.isArray(node)) return node.forEach((n) => secretsOf(n, out, parentKey));
  if (!node || typeof node !== 'object') return;
  const o = node as Json;
  const add = (v: unknown) => {
    const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
    // Short values would match codes and measurements by chance.
    if (s.length >= 5 && !(/^[\d.]+$/.test(s) && s.length < 8)) out.add(s);
  };
  if (parentKey === 'name' || o.family !== undefined) [o.family, ...(o.given ?? []), ...(o.prefix ?? []), ...(o.suffix ?? [])].forEach(add);
  if (parentKey === 'telecom') add(o.value);
  if (parentKey === 'address') [...(o.line ?? []), o.city, o.district, o.postalCode].forEach(add);
  if (parentKey === 'identifier') add(o.value);
  if (o.url === 'latitude' || o.url === 'longitude') add(o.valueDecimal);
  if (typeof o.resourceType === 'string' && /\d/.test(String(o.id))) add(o.id); // not 'referral', also an element's name
  for (const [k, v] of Object.entries(o)) secretsOf(v, out, k);
}

/** A number only as a whole number (99999999999 is not in 69.42999999999999). */
function contains(text: string, secret: string): boolean {
  if (!/^[\d.-]+$/.test(secret)) return text.includes(secret);
  return new RegExp(`(?<![\\d.])${secret.replace(/[.-]/g, '\\$&')}(?![\\d])`).test(text);
}

/** Codings of known systems, and quantities' values, outside what is removed as a whole (identifiers, removed extensions). */
function clinical(node: unknown, acc = { codings: 0, quantities: 0 }, key = ''): { codings: number; quantities: number } {
  if (Array.isArray(node)) {
    node.forEach((n) => clinical(n, acc, key));
    return acc;
  }
  if (!node || typeof node !== 'object' || key === 'identifier' || key === 'extension' || key === 'telecom' || key === 'contact') return acc;
  const o = node as Json;
  if (typeof o.system === 'string' && typeof o.code === 'string' && isKnownNamespace(o.system) && o.value === undefined) acc.codings++;
  if (typeof o.value === 'number' && key.startsWith('value')) acc.quantities++;
  for (const [k, v] of Object.entries(o)) clinical(v, acc, k);
  return acc;
}

describe('de-identification of the Synthea fixtures', () => {
  it_('leaves no name, address, telecom, identifier, geolocation, email, URL, SSN- or phone-like string, and keeps codes and values', () => {
    const deid = createDeidentifier(Buffer.alloc(32, 3));
    const secrets = new Set<string>();
    const input = { codings: 0, quantities: 0 };
    const output = { codings: 0, quantities: 0 };
    const leaks: string[] = [];
    const invalid: string[] = [];
    let resources = 0;
    let patients = 0;
    let older = 0;
    for (const file of FILES) {
      const bundle = JSON.parse(readFileSync(file, 'utf8')) as Json;
      const bundleSecrets = new Set<string>();
      secretsOf(bundle, bundleSecrets);
      for (const e of bundle.entry ?? []) bundleSecrets.add(String(e.fullUrl ?? '').replace(/^urn:uuid:/, ''));
      bundleSecrets.delete('');
      const owner = (bundle.entry ?? []).find((e: Json) => e.resource?.resourceType === 'Patient')?.fullUrl ?? null;
      const out: Resource[] = [];
      for (const e of bundle.entry ?? []) {
        const r = e.resource as Resource;
        clinical(r, input);
        const d = deid.resource(r, owner);
        clinical(d, output);
        out.push(d);
        resources++;
        if (r.resourceType === 'Patient') {
          patients++;
          // Demographics a data scientist needs survive.
          expect((d as Json).gender).toBe((r as Json).gender);
          // ... except the birth date of someone 90 or older (now, or at death): one category, masked.
          const end = typeof (r as Json).deceasedDateTime === 'string' ? new Date((r as Json).deceasedDateTime as string) : new Date();
          const ageInYears = (end.getTime() - new Date(`${(r as Json).birthDate as string}T00:00:00Z`).getTime()) / (365.2425 * 86_400_000);
          if (ageInYears >= 90.01) {
            expect((d as Json).birthDate).toBeUndefined();
            older++;
          } else if (ageInYears < 89.99) expect((d as Json).birthDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        }
        if (validateFhirResource(d).some((i) => i.severity === 'error')) invalid.push(`${r.resourceType}/${r.id}`);
      }
      const text = JSON.stringify(out);
      for (const s of bundleSecrets) if (contains(text, s)) leaks.push(`${path.basename(file)}: ${s}`);
      for (const [what, re] of [
        ['SSN-like', /\b\d{3}-\d{2}-\d{4}\b/],
        ['phone-like', /\b\d{3}[-.]\d{3}[-.]\d{4}\b|\(\d{3}\) ?\d{3}-\d{4}/],
        ['email', /[\w.+-]+@[\w-]+\.[a-z]{2,}/i],
        ['mailto', /mailto:/],
        ['narrative', /"div"|xhtml/],
        ['attachment data', /"data":/],
      ] as Array<[string, RegExp]>) {
        const m = re.exec(text);
        if (m) leaks.push(`${path.basename(file)}: ${what} ${m[0]}`);
      }
      for (const s of bundleSecrets) secrets.add(s);
    }
    if (process.env.DEID_REPORT) console.log({ files: FILES.length, resources, patients, secrets: secrets.size, input, output, leaks: leaks.length, invalid: invalid.length }); // eslint-disable-line no-console
    expect(patients).toBe(25);
    expect(older).toBeLessThan(patients); // most keep their (shifted) birth date
    expect(secrets.size).toBeGreaterThan(10_000);
    expect(leaks).toEqual([]);
    expect(invalid).toEqual([]);
    // Figures (README): every coding of a known system and every quantity's value survives outside what goes whole.
    expect(output.codings).toBe(input.codings);
    expect(output.quantities).toBe(input.quantities);
  }, 120_000);
});
