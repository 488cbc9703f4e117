import { evalFhirPathTyped, getAllDataTypes, toTypedValue, type InternalTypeSchema } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

const CONSTRAINT_ISSUE = /^Constraint ([A-Za-z0-9.-]+) not met/;
/** `path is Type`, with a plain path on the left. */
const IS_OPERATOR = /([A-Za-z_%$][\w.]*) is ([A-Za-z][\w.]*)/g;

let expressions: Map<string, string | undefined> | undefined;

/** Every constraint's expression by key, from the loaded definitions (undefined where one key has two expressions). */
function constraintExpression(key: string): string | undefined {
  if (!expressions) {
    const found = new Map<string, string | undefined>();
    const add = (c: { key: string; expression: string }) => found.set(c.key, found.has(c.key) && found.get(c.key) !== c.expression ? undefined : c.expression);
    const walk = (t: InternalTypeSchema) => {
      t.constraints?.forEach(add);
      for (const e of Object.values(t.elements ?? {})) e.constraints?.forEach(add);
      t.innerTypes?.forEach(walk);
    };
    Object.values(getAllDataTypes()).forEach(walk);
    expressions = found;
  }
  return expressions.get(key);
}

/**
 * FHIRPath's `is` on an empty collection is false (FHIRPath N1, "is type specifier": only one item
 * is tested, more than one is an error, "in all other cases this operator returns false"); Medplum's
 * engine answers empty, so `probability is decimal implies (probability as decimal) <= 100` (R4's
 * ras-2) comes out empty, not true, for a RiskAssessment prediction without a probability, and its
 * validator refuses a valid resource. For an unmet constraint whose expression uses `is`, the
 * constraint is evaluated again at the reported element with each `x is T` read as
 * `(x.exists() and x is T)`; when that is true, the issue is dropped. Pure.
 */
export function withoutEmptyIsFalsePositives(resource: object, issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  return issues.filter((issue) => {
    const key = CONSTRAINT_ISSUE.exec(issue.details?.text ?? issue.diagnostics ?? '')?.[1];
    const expression = key ? constraintExpression(key) : undefined;
    const path = issue.expression?.[0];
    if (!expression || !path || !expression.includes(' is ')) return true;
    try {
      const root = toTypedValue(resource);
      const context = evalFhirPathTyped(path, [root]);
      if (context.length !== 1) return true;
      const result = evalFhirPathTyped(expression.replace(IS_OPERATOR, '($1.exists() and $1 is $2)'), context, { '%resource': root, '%rootResource': root });
      return !(result.length === 1 && result[0].value === true);
    } catch {
      return true; // not re-evaluable here: Medplum's verdict stands
    }
  });
}
