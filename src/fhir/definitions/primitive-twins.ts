import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

/**
 * The shape of a primitive's `_name` twin (json.html#primitive): an object (id, extension) beside a
 * single value, an array of such objects or nulls beside a repeating one, as long as its values so
 * that item i extends value i. Medplum's validator throws a plain Error on a twin that is not an
 * object (a 500 before this check), and passes twins of another length, whose extensions then
 * belong to no value, or to another one when written as XML. One twin, beside its `primitive`;
 * the validator's JSON walk (resource-validator.ts) calls it for every `_` key it meets, nested and
 * contained resources' and the twins' own extensions' included. Pure.
 */
export function twinProblems(primitive: unknown, twin: unknown, path: string): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const isObject = (v: unknown) => !!v && typeof v === 'object' && !Array.isArray(v);
  if (!Array.isArray(primitive) && !Array.isArray(twin)) {
    if (!isObject(twin)) issues.push(problem(`${path} must be an object (id, extension)`, path));
  } else if (!Array.isArray(twin)) {
    issues.push(problem(`${path} must be an array beside the repeating element it extends`, path));
  } else if (primitive !== undefined && !Array.isArray(primitive)) {
    issues.push(problem(`${path} must be an object beside a single value`, path));
  } else {
    twin.forEach((t, i) => {
      if (t !== null && !isObject(t)) issues.push(problem(`Items of ${path} must be objects (id, extension) or null`, `${path}[${i}]`));
    });
    if (Array.isArray(primitive) && primitive.length !== twin.length) {
      issues.push(problem(`${path} has ${twin.length} items but its element has ${primitive.length} values: item i extends value i, so they must be as many`, path));
    }
  }
  return issues;
}

function problem(diagnostics: string, path: string): OperationOutcomeIssue {
  return { severity: 'error', code: 'structure', diagnostics, expression: [path] };
}
