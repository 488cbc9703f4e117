import Module from 'node:module';
import path from 'node:path';
import type { Client as FhirKitClient, ClientConfig } from 'fhir-kit-client';

export type { FhirKitClient };

type ClientClass = new (config: ClientConfig) => FhirKitClient;

/**
 * fhir-kit-client v2 is an ES module only (its package exports have no "require" condition), which
 * jest's CommonJS runtime cannot parse. Node 20.19+ can require() an ES module, so it is loaded by
 * Node's own loader (Module._load, which jest passes through unchanged; jest replaces require and
 * createRequire), by file path, bypassing the exports map. The client then lives in Node's realm:
 * compare what it returns by value, not with instanceof.
 */
export function loadFhirKitClient(): ClientClass {
  const entry = path.resolve(__dirname, '../../node_modules/fhir-kit-client/dist/index.js');
  const load = (Module as unknown as { _load(request: string, parent: unknown, isMain: boolean): unknown })._load;
  const mod = load(entry, null, false) as { Client?: ClientClass };
  if (typeof mod.Client !== 'function') throw new Error(`fhir-kit-client at ${entry} exports no Client class`);
  return mod.Client;
}

/** A fhir-kit-client for `${baseUrl}/fhir` with the given bearer token. */
export function fhirKitClient(baseUrl: string, bearerToken: string): FhirKitClient {
  const Client = loadFhirKitClient();
  return new Client({ baseUrl: `${baseUrl}/fhir`, bearerToken });
}
