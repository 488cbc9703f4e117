import { Injectable, type OnModuleInit } from '@nestjs/common';
import { loadFhirDefinitions } from './fhir-definitions';
import { validateFhirResource } from './resource-validator';

/** Loads the R4 definitions and warms the validator at start-up rather than on the first request (about a second). */
@Injectable()
export class FhirDefinitionsLoader implements OnModuleInit {
  onModuleInit(): void {
    loadFhirDefinitions();
    validateFhirResource({ resourceType: 'Patient', active: true });
  }
}
