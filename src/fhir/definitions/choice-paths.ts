import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

/** R4's primitive types: FHIRPath names them in lower case (`ofType(dateTime)`), the others as written (`ofType(Quantity)`). */
const PRIMITIVES = new Set([
  'base64Binary', 'boolean', 'canonical', 'code', 'date', 'dateTime', 'decimal', 'id', 'instant', 'integer',
  'markdown', 'oid', 'positiveInt', 'string', 'time', 'unsignedInt', 'uri', 'url', 'uuid',
]);
const STEP = /^([A-Za-z_][A-Za-z0-9_]*?)(\[x\])?((?:\[\d+\])*)$/;

/**
 * An issue's path with each choice element named as FHIRPath does (`Observation.value.ofType(Quantity)`,
 * what the reference validator writes) instead of Medplum's `value[x]`, which is no FHIRPath (R4's
 * OperationOutcome.issue.expression is one). The type is the one the resource holds there; a choice
 * element that is absent (a missing required one) is named without type (`MedicationRequest.medication`).
 * Any other path is returned as it is. Pure.
 */
export function withChoiceTypes(resource: unknown, path: string): string {
  if (!path.includes('[x]')) return path;
  const [root, ...steps] = path.split('.');
  const out = [root];
  let node: unknown = resource;
  for (const step of steps) {
    const m = STEP.exec(step);
    if (!m) return path;
    const [, name, choice, indexes] = m;
    let key = name;
    if (choice) {
      // The value, or only its `_` twin (extensions of a primitive without value).
      const keys = node && typeof node === 'object' ? Object.keys(node) : [];
      key = keys.find((k) => isChoiceKey(k, name)) ?? keys.find((k) => k.startsWith('_') && isChoiceKey(k.slice(1), name)) ?? name;
      const type = key.replace(/^_/, '').slice(name.length);
      const typeName = PRIMITIVES.has(lowerFirst(type)) ? lowerFirst(type) : type;
      out.push(type ? `${name}.ofType(${typeName})${indexes}` : `${name}${indexes}`);
    } else {
      out.push(step);
    }
    node = child(node, key);
    for (const [, i] of indexes.matchAll(/\[(\d+)\]/g)) node = child(node, Number(i));
  }
  return out.join('.');
}

/** The issues with their expressions as withChoiceTypes writes them. */
export function withChoiceTypesIn(resource: unknown, issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  return issues.map((i) => (i.expression?.some((e) => e.includes('[x]')) ? { ...i, expression: i.expression.map((e) => withChoiceTypes(resource, e)) } : i));
}

function isChoiceKey(key: string, name: string): boolean {
  return key.startsWith(name) && /^[A-Z]/.test(key.slice(name.length));
}

function child(node: unknown, key: string | number): unknown {
  return node && typeof node === 'object' ? (node as Record<string | number, unknown>)[key] : undefined;
}

function lowerFirst(s: string): string {
  return s ? s[0].toLowerCase() + s.slice(1) : s;
}
