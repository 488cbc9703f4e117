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
        { code: 'patch' },
      ],
      versioning: 'versioned',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalRead: 'not-supported',
      conditionalUpdate: true,
      conditionalDelete: 'single',
      referencePolicy: ['literal', 'local'],
      operation: [
        { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
        ...(type === 'Patient'
          ? [
              { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
              { name: 'verify-ehr-chain', definition: 'urn:fhir-ai-server:OperationDefinition/verify-ehr-chain' },
              { name: 'ehr-chain-checkpoint', definition: 'urn:fhir-ai-server:OperationDefinition/ehr-chain-checkpoint' },
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
            'Conditional interactions and conditional references match on identifier and _id.',
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
          interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
          operation: [{ name: 'verify-ehr-chain', definition: 'urn:fhir-ai-server:OperationDefinition/verify-ehr-chain' }],
        },
      ],
    };
  }
}
