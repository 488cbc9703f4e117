import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Json } from './fhir-api';

/**
 * Synthea transaction bundles (SMART sample patients) kept outside the repository, beside it in
 * ../shared. Tests that need them skip, saying why, when they are absent.
 */
export const SYNTHEA_DIR = path.resolve(__dirname, '../../../shared/fixtures/synthea/smart');

export const US_SSN = 'http://hl7.org/fhir/sid/us-ssn';

/** Absolute paths of the bundles, sorted; [] when the directory is missing. */
export function syntheaBundleFiles(): string[] {
  if (!existsSync(SYNTHEA_DIR)) return [];
  return readdirSync(SYNTHEA_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(SYNTHEA_DIR, f));
}

export function hasSynthea(): boolean {
  return syntheaBundleFiles().length > 0;
}

/** `it`, or `it.skip` with a message saying the Synthea fixtures are missing. */
export function itWithSynthea(): jest.It {
  if (hasSynthea()) return it;
  // eslint-disable-next-line no-console
  console.warn(`Synthea fixtures not found at ${SYNTHEA_DIR}: skipping the tests that need them`);
  return it.skip;
}

export function loadSyntheaBundle(index = 0): Json {
  const files = syntheaBundleFiles();
  if (!files[index]) throw new Error(`No Synthea bundle #${index} in ${SYNTHEA_DIR}`);
  return JSON.parse(readFileSync(files[index], 'utf8')) as Json;
}

/** The Patient entry of the index-th bundle (a fresh copy). */
export function syntheaPatient(index = 0): Json {
  const entry = (loadSyntheaBundle(index).entry as Json[]).find((e) => e.resource?.resourceType === 'Patient');
  if (!entry) throw new Error(`Synthea bundle #${index} has no Patient`);
  return entry.resource as Json;
}

/** The value of the identifier with the given system. */
export function identifierValue(resource: Json, system: string): string | undefined {
  return (resource.identifier as Json[] | undefined)?.find((i) => i.system === system)?.value;
}
