import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

/**
 * R4's rules between a resource and the resources it contains (references.html#contained), which
 * Medplum's validator leaves out (it skips dom-3, whose expression its FHIRPath engine gets wrong,
 * and passes ref-1 where it does not hold):
 * - dom-3: each contained resource is referred to from elsewhere in the resource (a reference,
 *   canonical or uri `#id`, or, as the reference validator accepts, a narrative's link or image
 *   `#id`), or itself refers to its container (`#`);
 * - ref-1: a local reference `#id` names one of the container's contained resources;
 * - and their ids are unique, as a local reference must name one.
 * Walks nested resources (Bundle entries, Parameters) each with its own contained. Pure.
 */
export function containedReferenceProblems(value: unknown, path: string, issues: OperationOutcomeIssue[] = []): OperationOutcomeIssue[] {
  if (Array.isArray(value)) {
    value.forEach((v, i) => containedReferenceProblems(v, `${path}[${i}]`, issues));
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.resourceType === 'string') checkResource(o, path, issues);
    else for (const [k, v] of Object.entries(o)) containedReferenceProblems(v, `${path}.${k}`, issues);
  }
  return issues;
}

function checkResource(resource: Record<string, unknown>, path: string, issues: OperationOutcomeIssue[]): void {
  const contained = Array.isArray(resource.contained) ? (resource.contained as unknown[]) : [];
  const ids = new Set<string>();
  contained.forEach((c, i) => {
    const id = (c as { id?: unknown } | null)?.id;
    if (typeof id !== 'string') return;
    if (ids.has(id)) issues.push(problem(`Duplicate id "${id}" among the contained resources`, `${path}.contained[${i}].id`));
    ids.add(id);
  });
  // Every `#...` value of the resource, its contained ones' included (dom-3 reads %resource.descendants()).
  const local = new Set<string>();
  for (const [k, v] of Object.entries(resource)) {
    if (k === 'contained') contained.forEach((c, i) => collect(c, `${path}.contained[${i}]`, ids, local, issues, true));
    else collect(v, `${path}.${k}`, ids, local, issues, false);
  }
  contained.forEach((c, i) => {
    const id = (c as { id?: unknown } | null)?.id;
    if (typeof id === 'string' && local.has(`#${id}`)) return;
    const toContainer = new Set<string>();
    collect(c, '', ids, toContainer, [], true);
    if (toContainer.has('#')) return;
    issues.push(
      problem(
        `dom-3: the contained resource${typeof id === 'string' ? ` "${id}"` : ' (without id)'} is not referred to from elsewhere in the resource, nor does it refer to the resource (#)`,
        `${path}.contained[${i}]`,
      ),
    );
  });
}

/** An `href` or `src` attribute holding a local reference, in a narrative. */
const NARRATIVE_LINK = /\s(?:href|src)\s*=\s*(["'])(#[^"']*)\1/g;

/**
 * Gathers the `#...` strings under `value` into `local`, and reports local references that name no
 * contained resource (ref-1). A nested resource other than a contained one starts its own scope.
 */
function collect(value: unknown, path: string, ids: Set<string>, local: Set<string>, issues: OperationOutcomeIssue[], isContained: boolean): void {
  if (typeof value === 'string') {
    if (value.startsWith('#')) local.add(value);
    else if (path.endsWith('.div')) for (const m of value.matchAll(NARRATIVE_LINK)) local.add(m[2]);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => collect(v, `${path}[${i}]`, ids, local, issues, false));
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.resourceType === 'string' && !isContained) {
      containedReferenceProblems(o, path, issues);
      return;
    }
    const ref = o.reference;
    if (typeof ref === 'string' && ref.startsWith('#') && ref.length > 1 && !ids.has(ref.slice(1)) && typeof o.resourceType !== 'string') {
      issues.push(problem(`ref-1: the local reference "${ref.slice(0, 70)}" names no contained resource`, path));
    }
    for (const [k, v] of Object.entries(o)) collect(v, `${path}.${k}`, ids, local, issues, false);
  }
}

function problem(diagnostics: string, path: string): OperationOutcomeIssue {
  return { severity: 'error', code: 'invariant', diagnostics, expression: [path] };
}
