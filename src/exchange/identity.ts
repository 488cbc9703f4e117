import type { AppConfig } from '../config/app-config';

/** Our identifier system when no public base URL is configured. */
export const DEFAULT_OUR_SYSTEM = 'urn:fhir-ai-server';

/**
 * The system of our identifiers on a remote (what a push writes, and what a pull recognises as
 * ours coming back): the public base URL when set, else DEFAULT_OUR_SYSTEM.
 */
export function ourSystem(config: Pick<AppConfig, 'publicBaseUrl'>): string {
  return config.publicBaseUrl || DEFAULT_OUR_SYSTEM;
}
