/**
 * Test-only helpers for the mapper specs: the official HL7 R4 examples and the Synthea bundles in
 * ../shared/fixtures/synthea (read in place, never copied into the repository).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { MapperContext } from '../../src/fhir/projection/projection';

const EXAMPLES_DIR = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));

/** An official HL7 R4 example, e.g. hl7Example('Patient-example'). */
export function hl7Example<T extends Resource>(name: string): T {
  return JSON.parse(readFileSync(path.join(EXAMPLES_DIR, `${name}.json`), 'utf8')) as T;
}

/** Every official HL7 R4 JSON example, with the resources of example Bundles after each Bundle. */
export function hl7Examples(): Resource[] {
  const resources: Resource[] = [];
  for (const f of readdirSync(EXAMPLES_DIR)) {
    if (!f.endsWith('.json') || f === 'package.json') continue;
    const r = JSON.parse(readFileSync(path.join(EXAMPLES_DIR, f), 'utf8')) as Resource;
    if (!r.resourceType) continue;
    resources.push(r);
    if (r.resourceType === 'Bundle') for (const e of (r as Bundle).entry ?? []) if (e.resource) resources.push(e.resource);
  }
  return resources;
}

/** A blind index stand-in: SHA-256 of the value (the real one is a keyed HMAC). */
export const fakeCtx: MapperContext = { blindIndex: (value) => createHash('sha256').update(value).digest() };

export const SYNTHEA_DIR = path.resolve(__dirname, '../../../shared/fixtures/synthea');
export const syntheaAvailable = existsSync(SYNTHEA_DIR);

/** describe() over Synthea data, skipped with a warning when the fixtures are absent. */
export function describeSynthea(name: string, fn: () => void): void {
  if (syntheaAvailable) return describe(name, fn);
  console.warn(`Synthea fixtures not found at ${SYNTHEA_DIR}: skipping "${name}"`);
  describe.skip(name, fn);
}

let loaded: { resources: Resource[]; local: Map<string, string> } | undefined;

function load(): { resources: Resource[]; local: Map<string, string> } {
  if (loaded) return loaded;
  const resources: Resource[] = [];
  const local = new Map<string, string>(); // urn:uuid:... → Type/id
  for (const dir of ['smart', 'data-pipes']) {
    const folder = path.join(SYNTHEA_DIR, dir);
    if (!existsSync(folder)) continue;
    for (const file of readdirSync(folder).filter((f) => f.endsWith('.json')).sort()) {
      const bundle = JSON.parse(readFileSync(path.join(folder, file), 'utf8')) as Bundle;
      for (const entry of bundle.entry ?? []) {
        if (!entry.resource) continue;
        resources.push(entry.resource);
        if (entry.fullUrl && entry.resource.id) local.set(entry.fullUrl, `${entry.resource.resourceType}/${entry.resource.id}`);
      }
    }
  }
  return (loaded = { resources, local });
}

/** The Synthea resources of a type, as the bundles carry them (urn:uuid: references). */
export function syntheaResources<T extends Resource>(type: T['resourceType']): T[] {
  return load().resources.filter((r): r is T => r.resourceType === type);
}

/** The resource with its urn:uuid: references rewritten to local `Type/id`, as the bundle processor does. */
export function localize<T extends Resource>(resource: T): T {
  const { local } = load();
  return JSON.parse(JSON.stringify(resource), (key, value: unknown) =>
    key === 'reference' && typeof value === 'string' ? (local.get(value) ?? value) : value,
  ) as T;
}
