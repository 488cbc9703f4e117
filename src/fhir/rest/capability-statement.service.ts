import { Injectable } from '@nestjs/common';
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { fhirResourceTypes } from '../definitions/fhir-definitions';
import { MAPPERS } from '../projection/mappers';

const SERVER_VERSION = '0.1.0';

/** The CapabilityStatement, built from what the code supports today. */
@Injectable()
export class CapabilityStatementService {
  private cached?: CapabilityStatement;

  build(base: string): CapabilityStatement {
    const statement = this.cached ?? (this.cached = this.make());
    return { ...statement, implementation: { description: 'FHIR R4 server with AI plugin workers', url: base } };
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
      ],
      versioning: 'versioned',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: false,
      conditionalRead: 'not-supported',
      conditionalUpdate: false,
      conditionalDelete: 'not-supported',
      referencePolicy: ['literal', 'local'],
      operation: [{ name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' }],
    }));
    return {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: new Date().toISOString(),
      publisher: 'fhir-ai-server',
      kind: 'instance',
      software: { name: 'fhir-ai-server', version: SERVER_VERSION },
      fhirVersion: '4.0.1',
      format: ['application/fhir+json', 'json'],
      rest: [
        {
          mode: 'server',
          documentation: 'All interactions need an OAuth2 bearer token from POST /auth/token (client credentials), except this statement.',
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
          interaction: [{ code: 'history-system' }],
        },
      ],
    };
  }
}
