import { fhirKitClient as makeClient, loadFhirKitClient, type FhirKitClient } from '../../src/exchange/fhir-kit-client';

export type { FhirKitClient };
export { loadFhirKitClient };

/** A fhir-kit-client for `${baseUrl}/fhir` with the given bearer token. */
export function fhirKitClient(baseUrl: string, bearerToken: string): FhirKitClient {
  return makeClient({ baseUrl: `${baseUrl}/fhir`, bearerToken });
}
