import { validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError, badRequest, outcome } from '../operation-outcome';
import { isResourceType, loadFhirDefinitions } from './fhir-definitions';
import { checkRequiredBindings } from './required-bindings';

export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * Validates a resource against the R4 base StructureDefinitions (cardinality, types, unknown
 * elements, formats: Medplum's validator), the required bindings of `code` elements, and the JSON
 * representation rules the validator leaves out (no empty strings, arrays or objects; ids in the
 * FHIR id format). Throws a 400 OperationOutcome naming every offending path; returns the warnings
 * otherwise.
 */
export function validateFhirResource(input: unknown, expectedType?: string): OperationOutcomeIssue[] {
  loadFhirDefinitions();
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw badRequest('The body must be a JSON object holding a FHIR resource');
  }
  const resource = input as Record<string, unknown>;
  const type = resource.resourceType;
  if (typeof type !== 'string' || !type) throw badRequest('The resource has no resourceType', ['resourceType']);
  if (!isResourceType(type)) throw badRequest(`Unknown resource type "${type}"`, ['resourceType']);
  if (expectedType && type !== expectedType) {
    throw badRequest(`resourceType "${type}" does not match the type in the URL ("${expectedType}")`, ['resourceType']);
  }

  const issues: OperationOutcomeIssue[] = [];
  if (resource.id !== undefined && (typeof resource.id !== 'string' || !FHIR_ID.test(resource.id))) {
    issues.push(error('value', `Invalid id: must match [A-Za-z0-9-.]{1,64}`, `${type}.id`));
  }
  checkJsonRules(resource, type, issues);
  issues.push(...checkRequiredBindings(resource));

  try {
    const warnings = validateResource(resource as unknown as Resource);
    for (const w of warnings) if (w.severity === 'error' || w.severity === 'fatal') issues.push(w);
    if (!issues.length) return warnings;
  } catch (e) {
    const oo = (e as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome;
    if (!oo?.issue) throw e;
    issues.push(...oo.issue);
  }
  throw new OperationOutcomeError(400, outcome(dedupe(issues)));
}

function error(code: OperationOutcomeIssue['code'], diagnostics: string, path: string): OperationOutcomeIssue {
  return { severity: 'error', code, diagnostics, expression: [path] };
}

/** FHIR JSON: no empty strings/objects/arrays, null only inside the arrays that align primitives and their `_` twins. */
function checkJsonRules(value: unknown, path: string, issues: OperationOutcomeIssue[], inArray = false): void {
  if (issues.length > 100) return;
  if (value === null) {
    if (!inArray) issues.push(error('structure', 'null is not allowed here', path));
    return;
  }
  if (typeof value === 'string') {
    if (value.trim() === '') issues.push(error('value', 'Strings must not be empty or blank', path));
    return;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) issues.push(error('structure', 'Arrays must not be empty', path));
    if (value.length > 0 && value.every((v) => v === null)) issues.push(error('structure', 'Arrays must not hold only nulls', path));
    value.forEach((v, i) => checkJsonRules(v, `${path}[${i}]`, issues, true));
    return;
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value as object);
    if (keys.length === 0) issues.push(error('structure', 'Objects must not be empty', path));
    for (const k of keys) {
      // Medplum's validator looks element names up with `in`, so names inherited from
      // Object.prototype (__proto__, constructor, toString...) would pass as known elements.
      if (k in Object.prototype || (k.startsWith('_') && k.slice(1) in Object.prototype)) {
        issues.push(error('structure', `Invalid additional property "${k}"`, `${path}.${k}`));
        continue;
      }
      // Contained and nested resources start their own path, as the validator names them.
      checkJsonRules((value as Record<string, unknown>)[k], `${path}.${k}`, issues);
    }
  }
}

function dedupe(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.code}|${i.diagnostics ?? i.details?.text}|${i.expression?.join(',')}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
