import { toTypedValue, type TypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { indexedParamsOf, type SearchParamDef, type SearchParamType } from './search-parameters';
import { compileSimplePaths, evalSimplePaths, type SimplePath } from './simple-paths';
import { dateRange, exactString, normalizeString, parseLocalReference, type DateRange } from './search-values';
import { componentCodeSystem, tokenCodeSystem } from './token-code-system';

/** `grp` ties together the component rows of one composite value (0: not part of a composite). */
interface RowBase {
  code: string;
  grp: number;
}
export interface StringRow extends RowBase {
  value: string;
  exact: string;
}
export interface TokenRow extends RowBase {
  system: string | null;
  value: string | null;
  text: string | null;
}
export interface DateRow extends RowBase, DateRange {}
export interface NumberRow extends RowBase {
  low: string;
  high: string;
}
export interface QuantityRow extends NumberRow {
  system: string | null;
  unit: string | null;
}
export interface ReferenceRow extends RowBase {
  targetType: string | null;
  targetId: string | null;
  url: string | null;
}
export interface UriRow extends RowBase {
  value: string;
}

export interface IndexRows {
  string: StringRow[];
  token: TokenRow[];
  date: DateRow[];
  number: NumberRow[];
  quantity: QuantityRow[];
  reference: ReferenceRow[];
  uri: UriRow[];
}

export function emptyRows(): IndexRows {
  return { string: [], token: [], date: [], number: [], quantity: [], reference: [], uri: [] };
}

/** The code under which a reference parameter's logical identifiers (`Reference.identifier`) are indexed as tokens. */
export const identifierCode = (code: string) => `${code}:identifier`;
/** The code of a composite's n-th component. */
export const componentCode = (code: string, n: number) => `${code}#${n}`;

/** Each parameter's expression compiled to plain paths where it is one (null: evaluated by the FHIRPath engine). */
const simplePaths = new WeakMap<SearchParamDef, SimplePath[] | null>();

function simplePathsOf(def: SearchParamDef, resourceType: string): SimplePath[] | undefined {
  let compiled = simplePaths.get(def);
  if (compiled === undefined) {
    compiled = (def.expression ? compileSimplePaths(def.expression, resourceType) : undefined) ?? null;
    simplePaths.set(def, compiled);
  }
  return compiled ?? undefined;
}

/**
 * The implicit code system of the `code` values of each token parameter (and token component of a
 * composite), worked out from the definitions once per parameter and type (token-code-system.ts);
 * null: none. Keyed by the parameter's (or component's) definition object, which is per type.
 */
const codeSystems = new WeakMap<object, string | null>();

function codeSystemOf(def: SearchParamDef, resourceType: string): string | undefined {
  let system = codeSystems.get(def);
  if (system === undefined) codeSystems.set(def, (system = (def.expression ? tokenCodeSystem(def.expression, resourceType) : undefined) ?? null));
  return system ?? undefined;
}

function componentSystemOf(def: SearchParamDef, component: NonNullable<SearchParamDef['components']>[number], resourceType: string): string | undefined {
  let system = codeSystems.get(component);
  if (system === undefined) codeSystems.set(component, (system = componentCodeSystem(def.expression, component.expression, resourceType) ?? null));
  return system ?? undefined;
}

/** As extractIndexRows, with every expression evaluated by the FHIRPath engine (to check the plain-path evaluation against it). */
export function extractIndexRowsByEngine(resource: Resource): IndexRows {
  return extract(resource, false);
}

/**
 * Every search index row of a resource: each search parameter of its type evaluated with FHIRPath
 * and turned into rows of the parameter's type. Expressions that are unions of plain paths are
 * evaluated by walking the JSON (simple-paths.ts), the others by the FHIRPath engine. Pure.
 */
export function extractIndexRows(resource: Resource): IndexRows {
  return extract(resource, true);
}

function extract(resource: Resource, plainPaths: boolean): IndexRows {
  const rows = emptyRows();
  const root = [toTypedValue(resource)];
  // Component expressions are relative to the composite's value, but may name the resource itself
  // (`%resource.referenceSeq.chromosome` in MolecularSequence's coordinate parameters).
  const componentScope = { variables: { '%resource': root[0], '%rootResource': root[0] } };
  let group = 0;
  for (const def of indexedParamsOf(resource.resourceType)) {
    let values: TypedValue[];
    const simple = plainPaths && def.type !== 'composite' ? simplePathsOf(def, resource.resourceType) : undefined;
    if (simple) values = evalSimplePaths(simple, resource);
    else {
      try {
        values = def.atom!.eval({ variables: {} }, root);
      } catch {
        continue; // an expression that does not apply to this content (e.g. a failed cast)
      }
    }
    if (def.type === 'composite') {
      for (const context of values) {
        group++;
        def.components?.forEach((c, n) => {
          let parts: TypedValue[] = [];
          try {
            parts = c.atom.eval(componentScope, [context]);
          } catch {
            /* no value for this component */
          }
          const system = c.type === 'token' ? componentSystemOf(def, c, resource.resourceType) : undefined;
          for (const v of parts) addRows(rows, c.type, componentCode(def.code, n), group, v, undefined, system);
        });
      }
      continue;
    }
    const system = def.type === 'token' ? codeSystemOf(def, resource.resourceType) : undefined;
    for (const v of values) addRows(rows, def.type, def.code, 0, v, def, system);
  }
  return dedupeRows(rows);
}

/**
 * The token rows of one (non-composite) token parameter of a resource, exactly as
 * extractIndexRows makes them, without evaluating the type's other parameters. Pure.
 */
export function extractTokenRows(resource: Resource, code: string): TokenRow[] {
  const def = indexedParamsOf(resource.resourceType).find((d) => d.code === code);
  if (!def || def.type !== 'token') return [];
  let values: TypedValue[];
  try {
    values = def.atom!.eval({ variables: {} }, [toTypedValue(resource)]);
  } catch {
    return [];
  }
  const rows = emptyRows();
  const system = codeSystemOf(def, resource.resourceType);
  for (const v of values) addRows(rows, 'token', code, 0, v, def, system);
  return rows.token;
}

/** `codeSystem`: the system of the parameter's `code` values (codeSystemOf), for token rows. */
function addRows(rows: IndexRows, type: SearchParamType, code: string, grp: number, value: TypedValue, def?: SearchParamDef, codeSystem?: string): void {
  // The FHIRPath engine gives a primitive that has extensions (`_gender`) as a String/Number/Boolean object: index its value.
  const raw = value.value as unknown;
  const tv = raw instanceof String || raw instanceof Number || raw instanceof Boolean ? { type: value.type, value: raw.valueOf() } : value;
  const v = tv.value as Record<string, unknown> & string & number & boolean;
  if (v === undefined || v === null) return;
  switch (type) {
    case 'string':
      for (const s of stringsOf(tv)) rows.string.push({ code, grp, value: normalizeString(s), exact: exactString(s) });
      return;
    case 'token':
      rows.token.push(...tokensOf(tv, codeSystem).map((t) => ({ code, grp, ...t })));
      return;
    case 'date':
      for (const r of datesOf(tv)) rows.date.push({ code, grp, ...r });
      return;
    case 'number': {
      const n = numberOf(tv);
      if (n !== undefined) rows.number.push({ code, grp, low: n.low, high: n.high });
      return;
    }
    case 'quantity':
      rows.quantity.push(...quantitiesOf(tv).map((q) => ({ code, grp, ...q })));
      return;
    case 'reference':
      referencesOf(rows, code, grp, tv, def);
      return;
    case 'uri':
      if (typeof v === 'string') rows.uri.push({ code, grp, value: v });
      return;
    default:
      return;
  }
}

function stringsOf(tv: TypedValue): string[] {
  const v = tv.value;
  if (typeof v === 'string') return [v];
  if (typeof v !== 'object' || v === null) return [];
  const o = v as Record<string, unknown>;
  const out: string[] = [];
  const push = (x: unknown) => {
    if (typeof x === 'string' && x) out.push(x);
    else if (Array.isArray(x)) x.forEach(push);
  };
  if (tv.type === 'HumanName') ['text', 'family', 'given', 'prefix', 'suffix'].forEach((k) => push(o[k]));
  else if (tv.type === 'Address') ['text', 'line', 'city', 'district', 'state', 'postalCode', 'country'].forEach((k) => push(o[k]));
  else ['text', 'display', 'value', 'title', 'name'].forEach((k) => push(o[k]));
  return out;
}

function tokensOf(tv: TypedValue, codeSystem: string | undefined): Array<{ system: string | null; value: string | null; text: string | null }> {
  const v = tv.value;
  if (typeof v === 'boolean') return [{ system: null, value: String(v), text: null }];
  // A `code` has no system of its own; its binding's code system is implied (search.html, token).
  if (typeof v === 'string') return [{ system: tv.type === 'code' ? (codeSystem ?? null) : null, value: v, text: null }];
  if (typeof v !== 'object' || v === null) return [];
  const o = v as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === 'string' && x ? x : null);
  switch (tv.type) {
    case 'CodeableConcept': {
      const text = str(o.text);
      const codings = Array.isArray(o.coding) ? (o.coding as Array<Record<string, unknown>>) : [];
      const rows = codings
        .filter((c) => str(c.code) || str(c.display))
        .map((c) => ({ system: str(c.system), value: str(c.code), text: joinText(str(c.display), text) }));
      return rows.length ? rows : text ? [{ system: null, value: null, text: normalizeString(text) }] : [];
    }
    case 'Coding':
      return str(o.code) || str(o.display) ? [{ system: str(o.system), value: str(o.code), text: joinText(str(o.display), null) }] : [];
    case 'Identifier': {
      const type = o.type as Record<string, unknown> | undefined;
      return str(o.value) ? [{ system: str(o.system), value: str(o.value), text: joinText(type ? str(type.text) : null, null) }] : [];
    }
    case 'ContactPoint':
      return str(o.value) ? [{ system: str(o.system), value: str(o.value), text: null }] : [];
    case 'Quantity':
      return str(o.code) ? [{ system: str(o.system), value: str(o.code), text: null }] : [];
    default:
      return str(o.code) ? [{ system: str(o.system), value: str(o.code), text: null }] : [];
  }
}

function joinText(a: string | null, b: string | null): string | null {
  const t = [a, b].filter(Boolean).join(' ');
  return t ? normalizeString(t) : null;
}

function datesOf(tv: TypedValue): DateRange[] {
  const v = tv.value;
  if (typeof v === 'string') {
    const r = dateRange(v);
    return r ? [r] : [];
  }
  if (typeof v !== 'object' || v === null) return [];
  const o = v as Record<string, unknown>;
  if (tv.type === 'Period') {
    const start = typeof o.start === 'string' ? dateRange(o.start) : undefined;
    const end = typeof o.end === 'string' ? dateRange(o.end) : undefined;
    if (!start && !end) return [];
    return [{ low: start?.low ?? '-infinity', high: end?.high ?? 'infinity' }];
  }
  if (tv.type === 'Timing') {
    const events = (Array.isArray(o.event) ? o.event : []).flatMap((e) => (typeof e === 'string' ? [dateRange(e)] : [])).filter((r): r is DateRange => !!r);
    const bounds = (o.repeat as Record<string, unknown> | undefined)?.boundsPeriod as Record<string, unknown> | undefined;
    if (bounds) events.push(...datesOf({ type: 'Period', value: bounds }));
    if (!events.length) return [];
    const low = events.map((e) => e.low).sort()[0];
    const high = events.map((e) => e.high).sort().at(-1) as string;
    return [{ low: events.some((e) => e.low === '-infinity') ? '-infinity' : low, high: events.some((e) => e.high === 'infinity') ? 'infinity' : high }];
  }
  return [];
}

function numberOf(tv: TypedValue): { low: string; high: string } | undefined {
  const v = tv.value;
  if (typeof v === 'number' && Number.isFinite(v)) return { low: String(v), high: String(v) };
  if (typeof v === 'object' && v !== null && typeof (v as { value?: unknown }).value === 'number') {
    const n = (v as { value: number }).value;
    return { low: String(n), high: String(n) };
  }
  return undefined;
}

function quantitiesOf(tv: TypedValue): Array<{ system: string | null; unit: string | null; low: string; high: string }> {
  const v = tv.value;
  if (typeof v !== 'object' || v === null) return typeof v === 'number' ? [{ system: null, unit: null, low: String(v), high: String(v) }] : [];
  const o = v as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === 'string' && x ? x : null);
  if (tv.type === 'Range') {
    const low = o.low as Record<string, unknown> | undefined;
    const high = o.high as Record<string, unknown> | undefined;
    if (typeof low?.value !== 'number' && typeof high?.value !== 'number') return [];
    const unitOf = low ?? high ?? {};
    return [
      {
        system: str(unitOf.system),
        unit: str(unitOf.code) ?? str(unitOf.unit),
        low: typeof low?.value === 'number' ? String(low.value) : '-Infinity',
        high: typeof high?.value === 'number' ? String(high.value) : 'Infinity',
      },
    ];
  }
  if (typeof o.value !== 'number') return [];
  const n = String(o.value);
  // Money keeps its currency in `currency`; other quantities their unit in code (UCUM) or unit.
  const unit = tv.type === 'Money' ? str(o.currency) : (str(o.code) ?? str(o.unit));
  const rows = [{ system: tv.type === 'Money' ? 'urn:iso:std:iso:4217' : str(o.system), unit, low: n, high: n }];
  // A human-readable unit differing from the code is matched too (`|mmHg` or `||mm[Hg]`).
  if (tv.type !== 'Money' && str(o.unit) && str(o.code) && o.unit !== o.code) rows.push({ system: null, unit: str(o.unit), low: n, high: n });
  return rows;
}

function referencesOf(rows: IndexRows, code: string, grp: number, tv: TypedValue, def?: SearchParamDef): void {
  const v = tv.value;
  if (typeof v === 'string') {
    // A canonical or uri used as a reference. A relative one (`Questionnaire/gcs`) is relative to
    // this server's base, so it also names that resource, as a relative Reference does.
    const url = v.split('|')[0];
    const target = allowedTarget(parseLocalReference(url), def);
    rows.reference.push({ code, grp, targetType: target?.type ?? null, targetId: target?.id ?? null, url });
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  const o = v as { reference?: unknown; identifier?: { system?: string; value?: string } };
  if (typeof o.reference === 'string' && o.reference.startsWith('#')) {
    // A contained resource: not a resource of this server, but the element has a value (`:missing=false`).
    rows.reference.push({ code, grp, targetType: null, targetId: null, url: o.reference });
  } else if (typeof o.reference === 'string') {
    const local = parseLocalReference(o.reference);
    const target = allowedTarget(local, def);
    if (target) {
      rows.reference.push({ code, grp, targetType: target.type, targetId: target.id, url: null });
    } else if (!local) {
      rows.reference.push({ code, grp, targetType: null, targetId: null, url: o.reference });
    }
  }
  if (o.identifier?.value) {
    rows.token.push({ code: identifierCode(code), grp, system: o.identifier.system ?? null, value: o.identifier.value, text: null });
  }
}

/** A local reference's target, when the parameter may refer to its type. */
function allowedTarget(local: { type: string; id: string } | undefined, def?: SearchParamDef): { type: string; id: string } | undefined {
  return local && (!def?.targets.length || def.targets.includes(local.type)) ? local : undefined;
}

/**
 * A row's values as one string, each length-prefixed (so no value can run into the next) and null
 * or absent told from '' : equal keys are equal rows of one kind. (JSON.stringify of every row cost
 * a few µs per resource, on every write and every AuditEvent.)
 */
function rowKey(r: Record<string, unknown>): string {
  let k = '';
  for (const field in r) {
    const v = r[field];
    k += v === null || v === undefined ? '~' : typeof v === 'string' ? `${v.length}:${v}` : `#${String(v)};`;
  }
  return k;
}

function dedupeRows(rows: IndexRows): IndexRows {
  const out = emptyRows();
  for (const key of Object.keys(rows) as Array<keyof IndexRows>) {
    if (rows[key].length < 2) {
      (out[key] as unknown[]) = rows[key];
      continue;
    }
    const seen = new Set<string>();
    for (const r of rows[key] as unknown as Array<Record<string, unknown>>) {
      const k = rowKey(r);
      if (seen.has(k)) continue;
      seen.add(k);
      (out[key] as unknown as Array<Record<string, unknown>>).push(r);
    }
  }
  return out;
}

/**
 * The versioned literal references (`Observation/x/_history/1`) a reference parameter of the
 * resource holds: the index keeps the resource they name, `_include` wants that version.
 */
export function versionedReferences(resource: Resource, code: string): Array<{ type: string; id: string; version: number }> {
  const def = indexedParamsOf(resource.resourceType).find((d) => d.code === code);
  if (def?.type !== 'reference' || !def.atom) return [];
  let values: TypedValue[];
  try {
    values = def.atom.eval({ variables: {} }, [toTypedValue(resource)]);
  } catch {
    return [];
  }
  const out: Array<{ type: string; id: string; version: number }> = [];
  for (const tv of values) {
    const ref = (tv.value as { reference?: unknown } | null)?.reference;
    const m = typeof ref === 'string' ? /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})\/_history\/(\d{1,9})$/.exec(ref) : null;
    if (m) out.push({ type: m[1], id: m[2], version: Number(m[3]) });
  }
  return out;
}
