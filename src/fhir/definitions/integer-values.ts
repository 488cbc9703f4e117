import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { tryTypeInfo } from './element-types';
import { lexemeOf } from '../json/lexemes';

/** R4 integer, positiveInt and unsignedInt are 32-bit signed whole numbers (datatypes.html#integer). */
export const INTEGER_MIN = -2147483648;
export const INTEGER_MAX = 2147483647;
const INTEGER_TYPES = new Set(['integer', 'positiveInt', 'unsignedInt']);
/** R4's integer lexical form: no fraction, no exponent. */
const INTEGER_LEXEME = /^-?(?:0|[1-9]\d*)$/;

/** A number that may need the typed walk below: a whole number outside the 32-bit range. */
export function outsideIntegerRange(n: number): boolean {
  return n > INTEGER_MAX || n < INTEGER_MIN;
}

/**
 * The integer-typed elements of a resource (contained and nested resources included, by the R4
 * definitions) whose value is outside the 32-bit range, or was written as a decimal (`1.0`, `1e2`:
 * the kept lexeme, lexemes.ts). Fractions and signs are the validator's. Pure; definitions loaded.
 */
export function integerProblems(resource: object): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const type = (resource as { resourceType?: unknown }).resourceType;
  if (typeof type === 'string') walk(resource as Record<string, unknown>, type, type, issues);
  return issues;
}

function walk(obj: Record<string, unknown>, type: string, path: string, issues: OperationOutcomeIssue[]): void {
  const info = tryTypeInfo(type);
  if (!info) return;
  for (const key of Object.keys(obj)) {
    const element = info.byName.get(key);
    if (!element) continue; // unknown elements are the validator's to name
    const value = obj[key];
    const at = `${path}.${key}`;
    if (element.kind === 'primitive') {
      if (!INTEGER_TYPES.has(element.type)) continue;
      if (Array.isArray(value)) value.forEach((v, i) => check(value, i, v, element.type, `${at}[${i}]`, issues));
      else check(obj, key, value, element.type, at, issues);
    } else if (element.kind === 'complex' || element.kind === 'resource') {
      const items = Array.isArray(value) ? value : [value];
      items.forEach((item, i) => {
        if (item === null || typeof item !== 'object' || Array.isArray(item)) return;
        const itemType = element.kind === 'resource' ? (item as { resourceType?: unknown }).resourceType : element.type;
        if (typeof itemType === 'string') walk(item as Record<string, unknown>, itemType, Array.isArray(value) ? `${at}[${i}]` : at, issues);
      });
    }
  }
}

function check(holder: object, key: string | number, value: unknown, type: string, path: string, issues: OperationOutcomeIssue[]): void {
  if (typeof value !== 'number') return;
  const lexeme = lexemeOf(holder, key, value);
  if (lexeme !== undefined && !INTEGER_LEXEME.test(lexeme)) {
    issues.push({ severity: 'error', code: 'value', diagnostics: `${lexeme} is not a valid ${type}: an integer has no decimal point or exponent`, expression: [path] });
  } else if (Number.isInteger(value) && outsideIntegerRange(value)) {
    issues.push({ severity: 'error', code: 'value', diagnostics: `${lexeme ?? value} is outside the range of a FHIR ${type} (${INTEGER_MIN} to ${INTEGER_MAX})`, expression: [path] });
  }
}
