import type { Endpoint } from '@medplum/fhirtypes';

export const ENDPOINT_CONNECTION_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type';
export const ENDPOINT_PAYLOAD_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/endpoint-payload-type';

/** What of a connection its Endpoint shows: never its authentication (let alone a secret). */
export interface EndpointFacts {
  id: string;
  name: string;
  baseUrl: string;
  status: 'active' | 'off';
}

/**
 * The Endpoint resource of a connection (same id). The elements the connection owns (status,
 * connection type, name, address, payload) are set from it; anything else an administrator added
 * to the Endpoint through FHIR (contact, managingOrganization, period...) is kept. Pure.
 */
export function endpointOf(c: EndpointFacts, previous?: Endpoint): Endpoint {
  const { meta: _meta, text: _text, ...kept } = previous ?? ({} as Endpoint);
  return {
    ...kept,
    resourceType: 'Endpoint',
    id: c.id,
    status: c.status === 'off' ? 'off' : 'active',
    connectionType: { system: ENDPOINT_CONNECTION_TYPE_SYSTEM, code: 'hl7-fhir-rest', display: 'HL7 FHIR' },
    name: c.name,
    // R4 requires at least one payload type; "any" (endpoint-payload-type) is the general-purpose API.
    payloadType: [{ coding: [{ system: ENDPOINT_PAYLOAD_TYPE_SYSTEM, code: 'any', display: 'Any' }], text: 'FHIR R4 resources' }],
    payloadMimeType: ['application/fhir+json'],
    address: c.baseUrl,
  };
}
