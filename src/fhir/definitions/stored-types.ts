import { OperationOutcomeError } from '../operation-outcome';

/**
 * Types of the R4 list that this server does not store as clients send them. Pure.
 *
 * - Parameters is never persisted (R4 parameters.html: it carries an operation's input and output).
 * - AuditEvents are recorded by the server for every request: clients read and search them
 *   (administrators only) but never write them.
 */
export const NOT_PERSISTED_TYPES: ReadonlySet<string> = new Set(['Parameters']);
export const SERVER_RECORDED_TYPES: ReadonlySet<string> = new Set(['AuditEvent']);

/** Throws 400 for a write of a type that is never stored. */
export function requirePersistedType(resourceType: string): void {
  if (NOT_PERSISTED_TYPES.has(resourceType)) {
    throw OperationOutcomeError.of(400, 'not-supported', `${resourceType} resources are not stored (FHIR R4: they carry an operation's input or output)`);
  }
}
