import { validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError, badRequest, outcome } from '../operation-outcome';
import { isResourceType, loadFhirDefinitions } from './fhir-definitions';
import { withoutEmptyIsFalsePositives } from './constraint-recheck';
import { checkRequiredBindings } from './required-bindings';
import { narrativeProblems } from './narrative';
import { integerProblems, outsideIntegerRange } from './integer-values';
import { twinProblems } from './primitive-twins';
import { containedReferenceProblems } from './contained-references';
import { withChoiceTypesIn } from './choice-paths';
import { hasLexemes } from '../json/lexemes';

export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * Validates a resource against the R4 base StructureDefinitions (cardinality, types, unknown
 * elements, formats: Medplum's validator), the required bindings of `code` elements, and the JSON
 * representation rules the validator leaves out (no empty strings, arrays or objects; ids in the
 * FHIR id format, contained resources' too), the rules of contained resources and local references
 * (contained-references.ts) and the narrative rules (narrative.ts). Throws a 400
 * OperationOutcome naming every offending path; returns the warnings otherwise.
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
  const notes: OperationOutcomeIssue[] = [];
  const seen: JsonWalkFindings = { suspectNumbers: false, twins: [] };
  checkJsonRules(resource, type, issues, false, notes, seen);
  // Integer ranges and lexemes need the element types: walked only when some number may be one.
  if (seen.suspectNumbers) issues.push(...integerProblems(resource));
  issues.push(...checkRequiredBindings(resource));
  issues.push(...containedReferenceProblems(resource, type));
  // Medplum's validator throws (not an OperationOutcome) on a `_name` twin of the wrong shape.
  if (seen.twins.length) throw new OperationOutcomeError(400, outcome(dedupe([...issues, ...seen.twins, ...notes])));

  const found = withoutEmptyIsFalsePositives(resource, withoutBase64FalsePositives(resource, medplumIssues(resource)));
  const warnings = found.filter((i) => i.severity !== 'error' && i.severity !== 'fatal');
  issues.push(...found.filter((i) => i.severity === 'error' || i.severity === 'fatal'));
  // Choice elements as FHIRPath names them (value.ofType(Quantity)), not as Medplum does (value[x]).
  if (!issues.length) return withChoiceTypesIn(resource, [...warnings, ...notes]);
  throw new OperationOutcomeError(400, outcome(dedupe(withChoiceTypesIn(resource, [...issues, ...warnings, ...notes]))));
}

/** Medplum's validator's issues, errors and warnings alike (it throws when there are errors). */
function medplumIssues(resource: Record<string, unknown>): OperationOutcomeIssue[] {
  try {
    return validateResource(resource as unknown as Resource);
  } catch (e) {
    const oo = (e as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome;
    if (!oo?.issue) throw e;
    return oo.issue;
  }
}

/**
 * R4's base64Binary (datatypes.html#primitive): whitespace may separate the groups, as in
 * line-wrapped data. R4 writes it `(\s*([0-9a-zA-Z\+\=]){4}\s*)+`, whose two adjacent `\s*`
 * backtrack exponentially on a near-miss; this equivalent form has one place for each space.
 */
const R4_BASE64 = /^\s*(?:[0-9a-zA-Z+/=]{4}\s*)+$/;
const BASE64_ISSUE = /Invalid base64Binary format/;

/**
 * Medplum's validator refuses base64Binary values with whitespace, which R4 allows (and EHRs
 * send, wrapped at 76 characters). When it reports one, the same resource with the whitespace of
 * such strings removed is checked again; the base64 issues that then disappear are dropped.
 */
function withoutBase64FalsePositives(resource: Record<string, unknown>, issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const text = (i: OperationOutcomeIssue) => `${i.diagnostics ?? ''} ${i.details?.text ?? ''}`;
  if (!issues.some((i) => BASE64_ISSUE.test(text(i)))) return issues;
  const compact = (v: unknown): unknown => {
    if (typeof v === 'string') return /\s/.test(v) && R4_BASE64.test(v) ? v.replace(/\s+/g, '') : v;
    if (Array.isArray(v)) return v.map(compact);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, compact(x)]));
    return v;
  };
  const still = new Set(
    medplumIssues(compact(resource) as Record<string, unknown>)
      .filter((i) => BASE64_ISSUE.test(text(i)))
      .map((i) => i.expression?.join(',')),
  );
  return issues.filter((i) => !BASE64_ISSUE.test(text(i)) || still.has(i.expression?.join(',')));
}

function error(code: OperationOutcomeIssue['code'], diagnostics: string, path: string): OperationOutcomeIssue {
  return { severity: 'error', code, diagnostics, expression: [path] };
}

/** What the JSON walk finds besides errors: whether some number may break an integer's range, and the `_` twins of the wrong shape. */
interface JsonWalkFindings {
  suspectNumbers: boolean;
  /** Kept apart: Medplum's validator throws a plain Error on them, so they are answered before it runs. */
  twins: OperationOutcomeIssue[];
}

/**
 * FHIR JSON: no empty strings/objects/arrays, null only inside the arrays that align primitives and
 * their `_` twins, the twins' shape (primitive-twins.ts); contained resources' ids in the id format;
 * narratives (the only elements named `div`) by the narrative rules, an empty one noted as a warning in `notes`.
 */
function checkJsonRules(value: unknown, path: string, issues: OperationOutcomeIssue[], inArray: boolean, notes: OperationOutcomeIssue[], seen: JsonWalkFindings): void {
  if (issues.length > 100) return;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && outsideIntegerRange(value)) seen.suspectNumbers = true;
    return;
  }
  if (value === null) {
    if (!inArray) issues.push(error('structure', 'null is not allowed here', path));
    return;
  }
  if (typeof value === 'string') {
    if (value.trim() === '') issues.push(error('value', 'Strings must not be empty or blank', path));
    else if (path.endsWith('.div')) {
      const { problems, empty } = narrativeProblems(value);
      for (const p of problems) issues.push(error('invalid', `The narrative ${p}`, path));
      if (empty) notes.push({ severity: 'warning', code: 'invariant', diagnostics: 'txt-2: the narrative should have some non-whitespace content', expression: [path] });
    }
    return;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) issues.push(error('structure', 'Arrays must not be empty', path));
    if (value.length > 0 && value.every((v) => v === null)) issues.push(error('structure', 'Arrays must not hold only nulls', path));
    if (hasLexemes(value)) seen.suspectNumbers = true;
    value.forEach((v, i) => checkJsonRules(v, `${path}[${i}]`, issues, true, notes, seen));
    return;
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value as object);
    if (hasLexemes(value)) seen.suspectNumbers = true;
    if (keys.length === 0) issues.push(error('structure', 'Objects must not be empty', path));
    // An extension's url is absolute (extensibility.html), but inside a complex extension it may
    // be the name of the part ("species").
    const o = value as Record<string, unknown>;
    if ((o.extension !== undefined || o.modifierExtension !== undefined) && !/\.(?:modifierE|e)xtension\[\d+\]$/.test(path)) {
      for (const k of ['extension', 'modifierExtension']) {
        const list = o[k];
        if (!Array.isArray(list)) continue;
        list.forEach((x, i) => {
          const url = (x as { url?: unknown } | null)?.url;
          if (typeof url === 'string' && !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(url)) issues.push(error('value', `Extension.url must be an absolute URL, not "${url.slice(0, 60)}"`, `${path}.${k}[${i}].url`));
        });
      }
    }
    // A resource inside this one (contained, a Bundle entry, a Parameters value): its id too.
    const { resourceType, id } = o;
    if (typeof resourceType === 'string' && id !== undefined && path.includes('.') && (typeof id !== 'string' || !FHIR_ID.test(id))) {
      issues.push(error('value', `Invalid id: must match [A-Za-z0-9-.]{1,64}`, `${path}.id`));
    }
    for (const k of keys) {
      // Medplum's validator looks element names up with `in`, so names inherited from
      // Object.prototype (__proto__, constructor, toString...) would pass as known elements.
      if (k in Object.prototype || (k.startsWith('_') && k.slice(1) in Object.prototype)) {
        issues.push(error('structure', `Invalid additional property "${k}"`, `${path}.${k}`));
        continue;
      }
      if (k.length > 1 && k.startsWith('_') && o[k] !== undefined) seen.twins.push(...twinProblems(o[k.slice(1)], o[k], `${path}.${k}`));
      // Contained and nested resources start their own path, as the validator names them.
      checkJsonRules(o[k], `${path}.${k}`, issues, false, notes, seen);
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
