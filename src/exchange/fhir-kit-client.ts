import Module from 'node:module';
import { dirname, join } from 'node:path';
import type { Client as FhirKitClient, ClientConfig } from 'fhir-kit-client';

export type { FhirKitClient, ClientConfig };

type ClientClass = new (config: ClientConfig) => FhirKitClient;

let cached: ClientClass | undefined;

/**
 * fhir-kit-client v2 is an ES module only (its exports map has no "require" condition). Node
 * 20.19+ can require() an ES module, so it is loaded by Node's own loader by file path; this also
 * works under jest, whose CommonJS runtime cannot parse ES modules but passes Module._load through.
 */
export function loadFhirKitClient(): ClientClass {
  if (cached) return cached;
  // `fhir-kit-client/package.json` is not exported; find the package beside a CommonJS dependency of ours.
  const nodeModules = dirname(dirname(require.resolve('pg/package.json')));
  const entry = join(nodeModules, 'fhir-kit-client', 'dist', 'index.js');
  const load = (Module as unknown as { _load(request: string, parent: unknown, isMain: boolean): unknown })._load;
  const mod = load(entry, null, false) as { Client?: ClientClass };
  if (typeof mod.Client !== 'function') throw new Error(`fhir-kit-client at ${entry} exports no Client class`);
  cached = mod.Client;
  return cached;
}

/** A fhir-kit-client for a FHIR base URL. */
export function fhirKitClient(config: ClientConfig): FhirKitClient {
  const Client = loadFhirKitClient();
  return new Client(config);
}
