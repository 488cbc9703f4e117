import { tryGetDataType } from '@medplum/core';
import { codeElementSystem } from '../definitions/bound-code-systems';
import { splitTopLevel } from './search-parameters';

const NO_CODE = Symbol('no code');
const UNKNOWN = Symbol('unknown');

/**
 * The code system to record for the `code` values a token parameter's expression selects on a
 * resource type (Patient.gender: http://hl7.org/fhir/administrative-gender), so that
 * `system|code` finds them and `|code` (explicitly no system) does not, as R4 search.html defines
 * tokens on `code` elements. Only when every part of the expression that may select a `code`
 * element is a path the definitions resolve (with a `where(...)` filter or a cast at most), and all
 * such elements share one implicit system (bound-code-systems.ts); otherwise undefined and the
 * values keep no system. Values of other types (Coding, Identifier...) carry their own system.
 * Reads the definitions: call it once per parameter and type, not per value.
 */
export function tokenCodeSystem(expression: string, resourceType: string): string | undefined {
  const found = new Set<string>();
  for (const part of splitTopLevel(expression)) {
    const s = partCodeSystem(part, resourceType);
    if (s === UNKNOWN) return undefined;
    if (s !== NO_CODE) found.add(s);
  }
  return found.size === 1 ? [...found][0] : undefined;
}

/**
 * The same for one component of a composite parameter, whose expression is relative to the
 * composite's own (`DocumentReference.relatesTo` + `code`): undefined unless the composite's
 * expression is a union of plain paths.
 */
export function componentCodeSystem(compositeExpression: string | undefined, componentExpression: string, resourceType: string): string | undefined {
  if (!compositeExpression) return undefined;
  const contexts = splitTopLevel(compositeExpression);
  if (!contexts.every((c) => /^[A-Z][A-Za-z]*(\.[a-z][A-Za-z]*)*$/.test(c))) return undefined;
  if (!/^[a-z][A-Za-z]*(\.[a-z][A-Za-z]*)*(\.(as|ofType)\([A-Za-z]+\))?$/.test(componentExpression.trim())) return undefined;
  return tokenCodeSystem(contexts.map((c) => `${c}.${componentExpression.trim()}`).join(' | '), resourceType);
}

/** A path (each step a name not followed by a call), then what follows it. */
const PATH = /^([A-Z][A-Za-z]*)((?:\.[a-z][A-Za-z]*(?![A-Za-z(]))+)(.*)$/;
/** A cast after the path: ` as T`, `.as(T)`, `.ofType(T)`. */
const CAST = /^(?:\s+as\s+([A-Za-z]+)|\.(?:as|ofType)\(([A-Za-z]+)\))$/;
/** A filter after the path (keeps the elements' type): `.where(...)`, one level of nested calls inside. */
const FILTER = /^\.where\((?:[^()]|\([^()]*\))*\)$/;

function partCodeSystem(part: string, resourceType: string): string | typeof NO_CODE | typeof UNKNOWN {
  let p = part.trim();
  while (p.startsWith('(') && p.endsWith(')') && !/[()]/.test(p.slice(1, -1).replace(/\([^()]*\)/g, ''))) p = p.slice(1, -1).trim();
  const m = PATH.exec(p);
  if (!m || m[1] !== resourceType) return UNKNOWN;
  const tail = m[3];
  let cast: string | undefined;
  if (tail) {
    const c = CAST.exec(tail);
    if (c) cast = c[1] ?? c[2];
    else if (!FILTER.test(tail)) return UNKNOWN;
  }
  const steps = m[2].slice(1).split('.');
  let type = m[1];
  for (let i = 0; i < steps.length; i++) {
    const elements = tryGetDataType(type)?.elements;
    const element = elements?.[steps[i]] ?? elements?.[`${steps[i]}[x]`];
    if (!element?.type?.length) return UNKNOWN;
    const codes = element.type.map((t) => t.code);
    if (i < steps.length - 1) {
      if (codes.length !== 1) return UNKNOWN;
      type = codes[0];
      continue;
    }
    // A cast to a type the element cannot have selects nothing.
    const ends = cast ? codes.filter((c) => c === cast) : codes;
    if (!ends.includes('code')) return NO_CODE;
    if (ends.length > 1) return UNKNOWN;
    // A code element without one implicit system: its values must not borrow another part's.
    return codeElementSystem(element) ?? UNKNOWN;
  }
  return UNKNOWN;
}
