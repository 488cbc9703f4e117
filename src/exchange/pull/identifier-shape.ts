import { tryGetDataType } from '@medplum/core';
import { loadFhirDefinitions } from '../../fhir/definitions/fhir-definitions';
import type { IdentifierShape } from './remote-references';

/** Whether a resource type's `identifier` element is an array, a single Identifier, or absent (R4 base definitions). */
export function identifierShape(resourceType: string): IdentifierShape {
  loadFhirDefinitions();
  const element = tryGetDataType(resourceType)?.elements?.identifier;
  if (!element || !element.type?.some((t) => t.code === 'Identifier')) return 'none';
  return element.isArray ? 'array' : 'single';
}
