import { tryGetDataType } from '@medplum/core';
import type { AppConfig } from '../config/app-config';
import { loadFhirDefinitions } from '../fhir/definitions/fhir-definitions';

/** Our identifier system when no public base URL is configured. */
export const DEFAULT_OUR_SYSTEM = 'urn:fhir-ai-server';

/**
 * The system of our identifiers on a remote (what a push writes, and what a pull recognises as
 * ours coming back): the public base URL when set, else DEFAULT_OUR_SYSTEM.
 */
export function ourSystem(config: Pick<AppConfig, 'publicBaseUrl'>): string {
  return config.publicBaseUrl || DEFAULT_OUR_SYSTEM;
}

/** How a resource type holds identifiers in R4: an array, a single Identifier, or none. */
export type IdentifierShape = 'array' | 'single' | 'none';

/** Whether a resource type's `identifier` element is an array, a single Identifier, or absent (R4 base definitions). */
export function identifierShape(resourceType: string): IdentifierShape {
  loadFhirDefinitions();
  const element = tryGetDataType(resourceType)?.elements?.identifier;
  if (!element || !element.type?.some((t) => t.code === 'Identifier')) return 'none';
  return element.isArray ? 'array' : 'single';
}
