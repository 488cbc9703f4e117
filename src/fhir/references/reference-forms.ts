import type { Resource } from '@medplum/fhirtypes';
import { tryTypeInfo } from '../definitions/element-types';
import { isResourceType } from '../definitions/fhir-definitions';
import { badRequest } from '../operation-outcome';

/**
 * The forms a Reference.reference may take when stored (R4 references.html: a literal reference is
 * a relative or absolute URL): `#id` (contained), an absolute URI (`https://...`, `urn:uuid:...`),
 * or a relative `Type/id` (optionally `/_history/vid`). A conditional reference (`Type?criteria`)
 * is resolved only inside a transaction or batch (http.html#trules), so it never reaches storage.
 * Anything else (a bare id, `foo/bar`) would be stored as text that names no resource, filed under
 * no patient: refused. Pure (after loadFhirDefinitions).
 */

const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const RELATIVE = /^([A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const CONDITIONAL = /^([A-Za-z]+)\?/;

/** Why `reference` may not be stored, or undefined when it may. */
export function referenceFormProblem(reference: string): string | undefined {
  if (reference.startsWith('#') || ABSOLUTE.test(reference)) return undefined;
  const relative = RELATIVE.exec(reference);
  if (relative) return isResourceType(relative[1]) ? undefined : `"${relative[1]}" is not a resource type`;
  if (CONDITIONAL.test(reference)) {
    return 'a conditional reference (Type?criteria) is resolved only inside a transaction or batch Bundle';
  }
  return 'a literal reference is a relative URL (Type/id), an absolute URL or a contained reference (#id); name a resource known only by identifier with Reference.identifier';
}

/** Throws a 400 OperationOutcome naming the first Reference.reference, at any depth, that may not be stored. */
export function requireStorableReferences(resource: Resource): void {
  const found = firstBadReference(resource, resource.resourceType, resource.resourceType);
  if (found) throw badRequest(`${found.path}: "${clip(found.reference)}" is not a reference this server can store: ${found.problem}`, [found.path]);
}

function firstBadReference(value: unknown, type: string | undefined, path: string): { path: string; reference: string; problem: string } | undefined {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = firstBadReference(v, type, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const object = value as Record<string, unknown>;
  // A contained or embedded resource is typed by its own resourceType.
  const ownType = typeof object.resourceType === 'string' ? object.resourceType : type;
  if (ownType === 'Reference' && typeof object.reference === 'string') {
    const problem = referenceFormProblem(object.reference);
    if (problem) return { path: `${path}.reference`, reference: object.reference, problem };
  }
  const elements = ownType ? tryTypeInfo(ownType)?.byName : undefined;
  for (const [key, v] of Object.entries(object)) {
    const element = elements?.get(key);
    if (!element || element.kind === 'primitive' || element.kind === 'xhtml') continue;
    const found = firstBadReference(v, element.kind === 'resource' ? undefined : element.type, `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}

const clip = (s: string) => (s.length > 100 ? `${s.slice(0, 100)}...` : s);
