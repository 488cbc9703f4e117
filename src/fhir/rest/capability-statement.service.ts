import { Injectable } from '@nestjs/common';
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { fhirResourceTypes } from '../definitions/fhir-definitions';
import { MAPPERS } from '../projection/mappers';
import { searchParamsOf } from '../search/search-parameters';
import { isEncryptedType } from '../store/sensitivity';

const SERVER_VERSION = '0.1.0';

/** The CapabilityStatement, built from what the code supports today. */
@Injectable()
export class CapabilityStatementService {
  private cached?: CapabilityStatement;
  private readonly serialized = new Map<string, string>();

  build(base: string): CapabilityStatement {
    const statement = this.cached ?? (this.cached = this.make());
    return { ...statement, implementation: { description: 'FHIR R4 server with AI plugin workers', url: base } };
  }

  /** The statement as JSON text, kept per base URL: it is large and never changes while the server runs. */
  json(base: string): string {
    let text = this.serialized.get(base);
    if (!text) {
      text = JSON.stringify(this.build(base));
      if (this.serialized.size < 16) this.serialized.set(base, text);
    }
    return text;
  }

  private make(): CapabilityStatement {
    const resource: CapabilityStatementRestResource[] = [...fhirResourceTypes()].sort().map((type) => ({
      type: type as CapabilityStatementRestResource['type'],
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
      ...(MAPPERS.has(type) ? { documentation: 'Also projected onto its relational table (see docs/ARCHITECTURE.md).' } : {}),
      interaction: [
        { code: 'read' },
        { code: 'vread' },
        { code: 'update' },
        { code: 'delete' },
        { code: 'history-instance' },
        { code: 'history-type' },
        { code: 'create' },
        { code: 'patch' },
        { code: 'search-type' },
      ],
      versioning: 'versioned',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalRead: 'not-supported',
      conditionalUpdate: true,
      conditionalDelete: 'single',
      referencePolicy: ['literal', 'local'],
      searchInclude: ['*', ...searchParamsOfType(type, 'reference').map((p) => `${type}:${p}`)],
      searchRevInclude: ['*'],
      searchParam: [...searchParamsOf(type).values()]
        .filter((p) => p.atom || p.code === '_id' || p.code === '_lastUpdated')
        .sort((a, b) => a.code.localeCompare(b.code))
        .map((p) => ({
          name: p.code,
          definition: p.url,
          type: p.type,
          ...(isEncryptedType(type) && p.sensitive ? { documentation: 'Encrypted at rest: matched whole (exact after normalisation) through a keyed hash' } : {}),
        })),
      operation: [
        { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
        ...(type === 'Patient'
          ? [
              { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
              { name: 'verify-ehr-chain', definition: 'urn:fhir-ai-server:OperationDefinition/verify-ehr-chain' },
              { name: 'ehr-chain-checkpoint', definition: 'urn:fhir-ai-server:OperationDefinition/ehr-chain-checkpoint' },
              {
                name: 'triage',
                definition: 'urn:fhir-ai-server:OperationDefinition/triage',
                documentation: 'POST: asks the AI workers for a triage priority (1-5) from the latest vital signs; 202 with the Task that tracks it',
              },
            ]
          : []),
      ],
    }));
    return {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: new Date().toISOString(),
      publisher: 'fhir-ai-server',
      kind: 'instance',
      software: { name: 'fhir-ai-server', version: SERVER_VERSION },
      fhirVersion: '4.0.1',
      format: ['application/fhir+json', 'json', 'application/fhir+xml', 'xml'],
      patchFormat: ['application/json-patch+json', 'application/fhir+json'],
      rest: [
        {
          mode: 'server',
          documentation:
            'All interactions need an OAuth2 bearer token from POST /auth/token (client credentials), except this statement. ' +
            'Search: every R4 search parameter with an expression, prefixes, modifiers (:missing :exact :contains :not :text :identifier :above/:below on uri, type modifiers), ' +
            'chains, _has, composites, _include/_revinclude (:iterate), _sort, _count with keyset paging (_cursor), _total, _summary, _elements; ' +
            'Prefer: handling=strict refuses unknown parameters. Conditional interactions and references take any search criteria.',
          security: {
            cors: false,
            service: [
              {
                coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth' }],
                text: 'OAuth2 client credentials; bearer JWT',
              },
            ],
          },
          resource,
          interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }, { code: 'search-system' }],
          // System-level search: the parameters every resource type has, and _type.
          searchParam: [
            ...(['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source'] as const).map((name) => ({
              name,
              type: (name === '_lastUpdated' ? 'date' : name === '_profile' || name === '_source' ? 'uri' : 'token') as 'date' | 'uri' | 'token',
              definition: `http://hl7.org/fhir/SearchParameter/Resource-${name.slice(1)}`,
            })),
            { name: '_type', type: 'token' as const },
          ],
          operation: [{ name: 'verify-ehr-chain', definition: 'urn:fhir-ai-server:OperationDefinition/verify-ehr-chain' }],
        },
      ],
    };
  }
}

function searchParamsOfType(type: string, kind: string): string[] {
  return [...searchParamsOf(type).values()].filter((p) => p.type === kind && p.atom).map((p) => p.code);
}
