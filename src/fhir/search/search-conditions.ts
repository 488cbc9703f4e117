import { and, or, raw, sql, type Sql } from '../../database/sql-fragment';
import { getDataType } from '@medplum/core';
import { isResourceType, ownerPathExpression, patientCompartmentPaths } from '../definitions/fhir-definitions';
import { OperationOutcomeError, badRequest, forbidden, outcome } from '../operation-outcome';
import { isEncryptedType } from '../store/sensitivity';
import { componentCode, identifierCode } from './index-extractor';
import { atMostOneValue, mayReferTo, searchParam, targetsText, type SearchParamDef, type SearchParamType } from './search-parameters';
import { splitUnescaped, truncate, unescapeValue } from './search-request';
import { indexTable } from './index-tables';
import { isSecretParam } from './search-secrets';
import { compileSimplePaths } from './simple-paths';
import { nameLit } from './sql-names';
import { sharedTargetVisible } from './shared-visibility';
import { capText, dateRange, escapeLike, exactString, normalizeString, numberRange, parseLocalReference, prefixUpperBound } from './search-values';

/** The row a condition is about: SQL expressions for its type and id (a resource row, or a reference's target). */
export interface RowRef {
  type: Sql;
  id: Sql;
  /** Present on resource rows; absent on chained targets. */
  lastUpdated?: Sql;
  /** The row's owning patient (the shard key), on resource rows. */
  patientId?: Sql;
}

export interface ConditionContext {
  /** A patient-context token's patient: index rows of other patients' resources never match. */
  compartment?: string;
  /** This server's FHIR base URL: absolute references to it are local. */
  base: string;
  tokenHash(system: string, value: string): Buffer;
  stringHash(normalized: string): Buffer;
  /** Now, for `ap` on dates. */
  now: Date;
  /** Whether the caller may search a type: chains and _has may only look into those. */
  canSearch(type: string): boolean;
  /**
   * Numbers the table aliases of one query, from 0 for each query: the same search shape then
   * always gives the same SQL text, which PostgreSQL can keep prepared.
   */
  aliases: { n: number };
}

/** A parameter this server does not know for the type: lenient searches ignore it, strict ones refuse it. */
export class UnknownParameterError extends Error {}

/**
 * A reference clause naming a type its parameter can never point to (`Observation?encounter=Patient/x`):
 * the client's mistake, a 400, where one type is searched. At system level the clause only rules
 * out the types whose parameter cannot point there (SearchService.conditions).
 */
export class ImpossibleTargetError extends OperationOutcomeError {
  constructor(diagnostics: string) {
    super(400, outcome([{ severity: 'error', code: 'invalid', diagnostics }]));
  }
}

const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
type Prefix = (typeof PREFIXES)[number];

const MODIFIERS: Record<SearchParamType, string[]> = {
  string: ['missing', 'exact', 'contains'],
  token: ['missing', 'not', 'text'],
  reference: ['missing', 'identifier'],
  date: ['missing'],
  number: ['missing'],
  quantity: ['missing'],
  uri: ['missing', 'above', 'below'],
  composite: ['missing'],
  special: [],
};

/** Modifiers the specification defines that need a terminology server or are not offered here. */
const UNSUPPORTED_MODIFIERS = new Set(['in', 'not-in', 'of-type', 'above', 'below', 'text', 'code-text', 'iterate']);

const alias = (p: string, ctx: ConditionContext) => raw(`${p}${++ctx.aliases.n}`);

/**
 * Builds the SQL condition for one search clause (`name=value`) on rows of `type`: parameters of
 * every type with their prefixes and modifiers, chains (`subject:Patient.name=x`) and reverse
 * chains (`_has:Observation:patient:code=x`). Malformed input is a 400 naming the clause.
 */
export function clauseCondition(type: string, row: RowRef, name: string, value: string, ctx: ConditionContext, depth = 0): Sql {
  if (depth > 4) throw badRequest(`${truncate(name)}: chains may be at most 4 levels deep`);
  if (name.startsWith('_has:')) return hasCondition(type, row, name, value, ctx, depth);
  const dot = name.indexOf('.');
  if (dot > 0) return chainCondition(type, row, name.slice(0, dot), name.slice(dot + 1), value, ctx, depth);
  const [code, modifier, ...rest] = name.split(':');
  if (rest.length) throw badRequest(`${truncate(name)}: a parameter takes one modifier`);
  if (code === '_id') return idCondition(row, modifier, value);
  if (code === '_lastUpdated') return lastUpdatedCondition(type, row, modifier, value, ctx);
  const def = searchParam(type, code);
  if (!def) throw new UnknownParameterError(`${type} has no search parameter "${truncate(code)}"`);
  // _text, _content and _query have no expression to index: unsupported, so handled as unknown
  // parameters are (ignored and reported under lenient handling, 400 under strict).
  if (!def.atom) throw new UnknownParameterError(`The search parameter ${code} is not supported by this server`);
  return paramCondition(type, row, def, modifier, value, ctx);
}

/** The comma-separated alternatives of a clause's value (ORed); an empty one is a 400. */
function alternativesOf(code: string, value: string): string[] {
  const values = splitUnescaped(value, ',');
  if (values.some((v) => v === '')) throw badRequest(`${code}: an empty value (check for a stray comma)`);
  return values;
}

/**
 * The AND of repeated clauses of one date parameter (`date=ge2020&date=lt2021`) as one EXISTS, when
 * the parameter has at most one value per resource (every date value is one index row): "a value
 * matches A and a value matches B" is then "the value matches A and B", one index probe per
 * candidate instead of one per clause (measured: 0.9 -> 0.65 ms for Observation code and a date
 * range). undefined when that does not hold: the clauses are then taken one by one.
 */
export function sameValueCondition(type: string, row: RowRef, name: string, values: string[], ctx: ConditionContext): Sql | undefined {
  if (values.length < 2 || name.startsWith('_') || name.includes(':') || name.includes('.')) return undefined; // _lastUpdated is a column
  const def = searchParam(type, name);
  if (!def?.atom || def.type !== 'date' || !atMostOneValue(type, def)) return undefined;
  const x = alias('s', ctx);
  const clauses = values.map((value) => or(alternativesOf(def.code, value).map((v) => dateMatch(x, def.code, v, ctx))));
  return sql`EXISTS (SELECT 1 FROM ${raw(indexTable(type, def.type))} ${x} WHERE ${rowMatch(x, row, def.code, ctx)} AND ${and(clauses)})`;
}

function paramCondition(type: string, row: RowRef, def: SearchParamDef, modifier: string | undefined, value: string, ctx: ConditionContext): Sql {
  const isTypeModifier = def.type === 'reference' && modifier !== undefined && /^[A-Z]/.test(modifier);
  if (modifier !== undefined && !isTypeModifier && !MODIFIERS[def.type].includes(modifier)) {
    if (UNSUPPORTED_MODIFIERS.has(modifier)) throw badRequest(`The modifier :${modifier} is not supported on ${def.type} parameter ${def.code}`);
    throw badRequest(`Unknown modifier :${truncate(modifier)} on ${def.type} parameter ${def.code}`);
  }
  if (isTypeModifier && (!isResourceType(modifier) || (def.targets.length && !def.targets.includes(modifier)))) {
    throw badRequest(`${def.code}:${truncate(modifier)}: ${modifier} is not a resource type ${def.code} may refer to`);
  }
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') throw badRequest(`${def.code}:missing must be true or false`);
    if (def.type === 'composite') {
      // search.html#missing: a composite has a value when one element carries every component.
      const exists = compositeGroup(type, row, def, undefined, ctx);
      return value === 'true' ? sql`NOT ${exists}` : exists;
    }
    const x = alias('m', ctx);
    let exists = sql`EXISTS (SELECT 1 FROM ${raw(indexTable(type, def.type))} ${x} WHERE ${rowMatch(x, row, def.code, ctx)})`;
    if (def.type === 'reference') {
      // A reference given only by its identifier (a logical reference) is a value too.
      const t = alias('m', ctx);
      exists = sql`(${exists} OR EXISTS (SELECT 1 FROM ${raw(indexTable(type, 'token'))} ${t} WHERE ${rowMatch(t, row, identifierCode(def.code), ctx)}))`;
    }
    return value === 'true' ? sql`NOT ${exists}` : exists;
  }
  const values = alternativesOf(def.code, value);
  const notBoolean = def.type === 'token' && isBooleanParam(type, def) ? values.find((v) => !['true', 'false'].includes(unescapeValue(v))) : undefined;
  if (notBoolean !== undefined) throw badRequest(`${def.code} is a boolean: its value is true or false, not "${truncate(notBoolean)}"`);
  const secret = isEncryptedType(type) && isSecretParam(type, def.code);
  if (def.type === 'composite') return or(values.map((v) => compositeCondition(type, row, def, v, ctx)));
  if (def.type === 'reference' && modifier === 'identifier') {
    const x = alias('t', ctx);
    const matches = values.map((v) => tokenMatch(x, `${def.code}:identifier`, v, isEncryptedType(type), ctx));
    return sql`EXISTS (SELECT 1 FROM ${raw(indexTable(type, 'token'))} ${x} WHERE ${rowMatch(x, row, identifierCode(def.code), ctx)} AND ${or(matches)})`;
  }
  const x = alias('s', ctx);
  if (def.type === 'reference' && modifier === undefined && row.patientId && impliesOwner(type, def)) {
    // A reference to Patient X through the path that decides ownership means the resource is filed
    // under X: say so, so that the query reads one patient's rows (one shard) by the primary key.
    return or(values.map((v) => ownerAware(type, x, row, def, v, ctx)));
  }
  const matches = values.map((v) => valueMatch(x, def, isTypeModifier ? undefined : modifier, isTypeModifier ? modifier : undefined, v, secret, ctx));
  const exists = sql`EXISTS (SELECT 1 FROM ${raw(indexTable(type, def.type))} ${x} WHERE ${rowMatch(x, row, def.code, ctx)} AND ${or(matches)})`;
  return modifier === 'not' ? sql`NOT ${exists}` : exists;
}

function ownerAware(type: string, x: ReturnType<typeof raw>, row: RowRef, def: SearchParamDef, value: string, ctx: ConditionContext): Sql {
  const exists = sql`EXISTS (SELECT 1 FROM ${raw(indexTable(type, 'reference'))} ${x} WHERE ${rowMatch(x, row, def.code, ctx)} AND ${valueMatch(x, def, undefined, undefined, value, false, ctx)})`;
  let v = unescapeValue(value);
  if (v.startsWith(`${ctx.base.replace(/\/$/, '')}/`)) v = v.slice(ctx.base.replace(/\/$/, '').length + 1);
  const local = parseLocalReference(v);
  const patientId = local?.type === 'Patient' ? local.id : !local && def.targets.length === 1 && def.targets[0] === 'Patient' && /^[A-Za-z0-9\-.]{1,64}$/.test(v) ? v : undefined;
  return patientId ? and([sql`${row.patientId} = ${patientId}`, exists]) : exists;
}

const ownerCache = new Map<string, boolean>();

/** Whether the parameter follows the single-valued path that decides a resource's owning patient. */
function impliesOwner(type: string, def: SearchParamDef): boolean {
  const key = `${type}.${def.code}`;
  let known = ownerCache.get(key);
  if (known === undefined) {
    const strip = (e: string) => e.replace(/\.where\(resolve\(\) is Patient\)/g, '').trim();
    const owner = ownerPathExpression(type);
    const path = owner ? strip(owner).split('.') : [];
    known = !!owner && !!def.expression && strip(def.expression) === strip(owner) && path.length === 2 && getDataType(type).elements[path[1]]?.max === 1;
    ownerCache.set(key, known);
  }
  return known;
}

/** Index rows of the given row and parameter code (and, for a confined token, of visible resources only). */
function rowMatch(x: ReturnType<typeof raw>, row: RowRef, code: string, ctx: ConditionContext): Sql {
  const parts = [sql`${x}.resource_type = ${row.type}`, sql`${x}.resource_id = ${row.id}`, sql`${x}.code = ${nameLit(code)}`];
  if (ctx.compartment !== undefined) parts.push(sql`${x}.patient_id IN ('', ${ctx.compartment})`);
  return and(parts);
}

/** One value of a parameter against one index row alias. */
function valueMatch(
  x: ReturnType<typeof raw>,
  def: { code: string; type: SearchParamType; targets: string[] },
  modifier: string | undefined,
  targetType: string | undefined,
  value: string,
  secret: boolean,
  ctx: ConditionContext,
): Sql {
  switch (def.type) {
    case 'string': {
      const s = unescapeValue(value);
      const norm = normalizeString(s);
      if (!norm) throw badRequest(`${def.code}: the value is empty once spaces are removed`);
      // Secret fields are matched by keyed hash: whole (normalised) values only, so :exact and
      // :contains cannot be answered (an empty result would read as "no such patient").
      if (secret && modifier) throw badRequest(`The modifier :${modifier} is not supported on ${def.code}: it is encrypted at rest and matched by whole value only`);
      if (secret) return sql`${x}.hash = ${ctx.stringHash(norm)}`;
      if (modifier === 'exact') return sql`${x}.exact = ${exactString(s)}`;
      if (modifier === 'contains') return sql`${x}.value LIKE ${`%${escapeLike(norm)}%`}`;
      // The prefix's range beside the LIKE: PostgreSQL derives it from a constant pattern, but a
      // generic plan has only a parameter, and then read every value of the code (a chain through
      // `name` started from the other condition's rows instead: 1.0 → 2.5 ms a statement).
      const upper = prefixUpperBound(norm);
      return sql`(${x}.value LIKE ${`${escapeLike(norm)}%`} AND ${x}.value >= ${norm}${upper === undefined ? sql`` : sql` AND ${x}.value < ${upper}`})`;
    }
    case 'token':
      if (modifier === 'text' && secret) throw badRequest(`The modifier :text is not supported on ${def.code}: it is encrypted at rest and matched by whole code only`);
      if (modifier === 'text') {
        const norm = normalizeString(unescapeValue(value));
        return sql`(${x}.text LIKE ${`${escapeLike(norm)}%`} OR ${x}.text LIKE ${`% ${escapeLike(norm)}%`})`;
      }
      return tokenMatch(x, def.code, value, secret, ctx);
    case 'date':
      return dateMatch(x, def.code, value, ctx);
    case 'number': {
      const { prefix, rest } = splitPrefix(value);
      return numberMatch(x, def.code, prefix, rest);
    }
    case 'quantity':
      return quantityMatch(x, def.code, value);
    case 'reference':
      return referenceMatch(x, def, targetType, value, ctx);
    case 'uri': {
      const v = capText(unescapeValue(value));
      // By path segments: http://a.org/fhir/ValueSet/12 is neither above nor below .../ValueSet/123.
      const path = v.replace(/\/+$/, '');
      if (modifier === 'below') return sql`(${x}.value = ${v} OR ${x}.value LIKE ${`${escapeLike(path)}/%`})`;
      if (modifier === 'above') {
        return sql`(${x}.value = ${v} OR starts_with(${v}::text, rtrim(${x}.value, '/') || '/'))`;
      }
      return sql`${x}.value = ${v}`;
    }
    default:
      throw badRequest(`Parameters of type ${def.type} (${def.code}) are not supported by this server`);
  }
}

const booleanParams = new Map<string, boolean>();

/** Whether every path of a token parameter of `type` ends on a boolean element (Patient.active): its values are true and false only. */
function isBooleanParam(type: string, def: SearchParamDef): boolean {
  const key = `${type}.${def.code}`;
  let known = booleanParams.get(key);
  if (known === undefined) {
    known = !!def.expression && !!compileSimplePaths(def.expression, type)?.every((p) => p.type === 'boolean');
    booleanParams.set(key, known);
  }
  return known;
}

function tokenMatch(x: ReturnType<typeof raw>, code: string, value: string, secret: boolean, ctx: ConditionContext): Sql {
  const parts = splitUnescaped(value, '|');
  if (parts.length > 2) throw badRequest(`${code}: a token is system|code; "${truncate(value)}" has more than one "|" (escape it as \\|)`);
  const [a, b] = parts.map((p) => capText(unescapeValue(p)));
  if (parts.length === 1) return secret ? sql`${x}.hash_value = ${ctx.tokenHash('', a)}` : sql`${x}.value = ${a}`;
  if (!a && !b) throw badRequest(`${code}: a token needs a system or a code`);
  if (!a) return secret ? sql`${x}.hash_system_value = ${ctx.tokenHash('', b)}` : sql`(${x}.system IS NULL AND ${x}.value = ${b})`;
  if (!b) return sql`${x}.system = ${a}`;
  return secret ? sql`${x}.hash_system_value = ${ctx.tokenHash(a, b)}` : sql`(${x}.system = ${a} AND ${x}.value = ${b})`;
}

function splitPrefix(value: string): { prefix: Prefix; rest: string } {
  const m = /^([a-z]{2})(.*)$/.exec(value);
  if (m && (PREFIXES as readonly string[]).includes(m[1])) return { prefix: m[1] as Prefix, rest: m[2] };
  return { prefix: 'eq', rest: value };
}

/**
 * Dates, with the specification's range semantics: the search value covers [sl, sh) at its
 * precision, the indexed value [rl, rh). eq: the value's range contains the row's; gt/lt: the row
 * reaches past/before it; ge/le: either; sa/eb: the row starts after / ends before it; ap: the
 * ranges meet once the search range is widened by 10% of its distance from now (at least a day).
 */
function dateMatch(x: ReturnType<typeof raw>, code: string, value: string, ctx: ConditionContext): Sql {
  const { prefix, rest } = splitPrefix(value);
  const r = dateRange(rest);
  if (!r) throw badRequest(`${code}: "${truncate(value)}" is not a FHIR date (yyyy, yyyy-mm, yyyy-mm-dd or yyyy-mm-ddThh:mm:ss+zz:zz), optionally after a prefix (eq, ne, gt, lt, ge, le, sa, eb, ap)`);
  return dateRangeMatch(sql`${x}.low`, sql`${x}.high`, prefix, r.low, r.high, ctx);
}

function dateRangeMatch(rl: Sql, rh: Sql, prefix: Prefix, low: string, high: string, ctx: ConditionContext): Sql {
  const sl = sql`${low}::timestamptz`;
  const sh = sql`${high}::timestamptz`;
  const contained = sql`(${rl} >= ${sl} AND ${rh} <= ${sh})`;
  switch (prefix) {
    case 'eq':
      return contained;
    case 'ne':
      return sql`NOT ${contained}`;
    case 'gt':
      return sql`${rh} > ${sh}`;
    case 'lt':
      return sql`${rl} < ${sl}`;
    case 'ge':
      return sql`(${rh} > ${sh} OR ${contained})`;
    case 'le':
      return sql`(${rl} < ${sl} OR ${contained})`;
    case 'sa':
      return sql`${rl} >= ${sh}`;
    case 'eb':
      return sql`${rh} <= ${sl}`;
    case 'ap': {
      const lowMs = Date.parse(low);
      const highMs = Date.parse(high);
      const now = ctx.now.getTime();
      const margin = Math.max(86_400_000, 0.1 * Math.max(Math.abs(now - lowMs), Math.abs(now - highMs)));
      const wl = new Date(lowMs - margin).toISOString();
      const wh = new Date(highMs + margin).toISOString();
      return sql`(${rl} < ${wh}::timestamptz AND ${rh} > ${wl}::timestamptz)`;
    }
  }
}

/**
 * Numbers: `100` stands for [99.5, 100.5) (its significant figures); eq/ne test the indexed value
 * against that range, and so do sa/eb (search.html#prefix: the ranges do not overlap, the row's
 * after / before); gt/lt/ge/le test against the value itself. Ranges in the index (low..high)
 * match eq only when they lie inside the search range.
 */
function numberMatch(x: ReturnType<typeof raw>, code: string, prefix: Prefix, text: string): Sql {
  const n = numberRange(text);
  if (!n) throw badRequest(`${code}: "${truncate(text)}" is not a number`);
  const low = sql`${x}.low`;
  const high = sql`${x}.high`;
  const v = sql`${n.value}::numeric`;
  const contained = sql`(${low} >= ${n.low}::numeric AND ${high} < ${n.high}::numeric)`;
  switch (prefix) {
    case 'eq':
      return contained;
    case 'ne':
      return sql`NOT ${contained}`;
    case 'gt':
      return sql`${high} > ${v}`;
    case 'sa':
      return sql`${low} >= ${n.high}::numeric`;
    case 'lt':
      return sql`${low} < ${v}`;
    case 'eb':
      return sql`${high} < ${n.low}::numeric`;
    case 'ge':
      return sql`${high} >= ${v}`;
    case 'le':
      return sql`${low} <= ${v}`;
    case 'ap': {
      const margin = Math.abs(Number(n.value)) * 0.1;
      return sql`(${low} <= ${String(Number(n.value) + margin)}::numeric AND ${high} >= ${String(Number(n.value) - margin)}::numeric)`;
    }
  }
}

/** `[prefix]number|system|code`; `number||code` matches the unit code in any system. */
function quantityMatch(x: ReturnType<typeof raw>, code: string, value: string): Sql {
  const parts = splitUnescaped(value, '|');
  if (parts.length !== 1 && parts.length !== 3) throw badRequest(`${code}: a quantity is [prefix]number or [prefix]number|system|code, got "${truncate(value)}"`);
  const { prefix, rest } = splitPrefix(parts[0]);
  const conds = [numberMatch(x, code, prefix, rest)];
  if (parts.length === 3) {
    const system = unescapeValue(parts[1]);
    const unit = unescapeValue(parts[2]);
    if (system) conds.push(sql`${x}.system = ${system}`);
    if (unit) conds.push(sql`${x}.unit = ${unit}`);
  }
  return and(conds);
}

function referenceMatch(x: ReturnType<typeof raw>, def: { code: string; targets: string[] }, targetType: string | undefined, value: string, ctx: ConditionContext): Sql {
  let v = unescapeValue(value);
  const base = ctx.base.replace(/\/$/, '');
  if (v.startsWith(`${base}/`)) v = v.slice(base.length + 1);
  // A relative canonical may name its version (`Questionnaire/gcs|2`); the index keeps the resource.
  const local = parseLocalReference(v.split('|')[0]);
  if (local) {
    if (!isResourceType(local.type)) throw badRequest(`${def.code}: "${truncate(local.type)}" is not a resource type`);
    // A type the clause can never refer to is the client's mistake, not a search with no match:
    // the index holds no such reference (index-extractor keeps allowed targets only).
    if (!mayReferTo(def, local.type)) throw new ImpossibleTargetError(`${def.code}: ${local.type}/${truncate(local.id)} names a ${local.type}, but ${def.code} refers only to ${targetsText(def)}`);
    if (targetType && targetType !== local.type) throw new ImpossibleTargetError(`${def.code}:${targetType}: ${local.type}/${truncate(local.id)} names a ${local.type}, not a ${targetType}`);
    return sql`(${x}.target_type = ${local.type} AND ${x}.target_id = ${local.id})`;
  }
  if (/^[A-Za-z0-9\-.]{1,64}$/.test(v)) {
    const types = targetType ? [targetType] : def.targets;
    if (!types.length) return sql`${x}.target_id = ${v}`;
    // One type (patient, a type modifier): equality, so that the target index is read from
    // (id, type, resource type, code) exactly. As = ANY(array) PostgreSQL kept the type as a filter
    // and read every reference to the id, of every resource type (then AuditEvents' too).
    if (types.length === 1) return sql`(${x}.target_id = ${v} AND ${x}.target_type = ${types[0]})`;
    return sql`(${x}.target_id = ${v} AND ${x}.target_type = ANY(${types}::text[]))`;
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(v)) return sql`${x}.url = ${capText(v.split('|')[0])}`;
  throw badRequest(`${def.code}: "${truncate(value)}" is not a reference (Type/id, id, or an absolute URL)`);
}

/** `code$value` (components separated by `$`): all components in one composite group. */
function compositeCondition(type: string, row: RowRef, def: SearchParamDef, value: string, ctx: ConditionContext): Sql {
  const parts = splitUnescaped(value, '$');
  const components = def.components ?? [];
  if (parts.length !== components.length) throw badRequest(`${def.code}: a composite value has ${components.length} parts separated by $, got "${truncate(value)}"`);
  return compositeGroup(type, row, def, parts, ctx);
}

/** One composite group of the row with a row for every component, each matching its part of the value (any value without `parts`). */
function compositeGroup(type: string, row: RowRef, def: SearchParamDef, parts: string[] | undefined, ctx: ConditionContext): Sql {
  const components = def.components ?? [];
  let inner: Sql | undefined;
  const aliases = components.map(() => alias('c', ctx));
  for (let n = components.length - 1; n >= 0; n--) {
    const c = components[n];
    const x = aliases[n];
    const sub = { code: def.code, type: c.type, targets: [] };
    const match = parts ? [valueMatch(x, sub, undefined, undefined, parts[n], false, ctx)] : [];
    const link =
      n === 0
        ? rowMatch(x, row, componentCode(def.code, 0), ctx)
        : and([sql`${x}.resource_type = ${aliases[0]}.resource_type`, sql`${x}.resource_id = ${aliases[0]}.resource_id`, sql`${x}.grp = ${aliases[0]}.grp`, sql`${x}.code = ${nameLit(componentCode(def.code, n))}`]);
    inner = sql`EXISTS (SELECT 1 FROM ${raw(indexTable(type, c.type))} ${x} WHERE ${and([link, ...match, ...(inner ? [inner] : [])])})`;
  }
  return inner as Sql;
}

function idCondition(row: RowRef, modifier: string | undefined, value: string): Sql {
  if (modifier && modifier !== 'not' && modifier !== 'missing') throw badRequest(`Unknown modifier :${truncate(modifier)} on _id`);
  if (modifier === 'missing') return value === 'false' ? sql`true` : sql`false`;
  const ids = splitUnescaped(value, ',').map(unescapeValue);
  const ok = ids.filter((id) => /^[A-Za-z0-9\-.]{1,64}$/.test(id));
  // One id (the usual _id search): equality, not = ANY(array). PostgreSQL costs a generic plan's
  // array at ten elements, so a statement with one never got a generic plan and was planned at
  // every execution (a _revinclude's page and includes: about 0.3 ms each).
  const cond = ok.length === 1 ? sql`${row.id} = ${ok[0]}::text` : ok.length ? sql`${row.id} = ANY(${ok}::text[])` : sql`false`;
  return modifier === 'not' ? sql`NOT ${cond}` : cond;
}

function lastUpdatedCondition(type: string, row: RowRef, modifier: string | undefined, value: string, ctx: ConditionContext): Sql {
  if (modifier) throw badRequest(`_lastUpdated takes no modifier (got :${truncate(modifier)})`);
  const match = (lastUpdated: Sql) =>
    or(
      splitUnescaped(value, ',').map((v) => {
        const { prefix, rest } = splitPrefix(v);
        const r = dateRange(rest);
        if (!r) throw badRequest(`_lastUpdated: "${truncate(v)}" is not a FHIR date`);
        // An instant covers its millisecond.
        return dateRangeMatch(lastUpdated, sql`(${lastUpdated} + interval '1 millisecond')`, prefix, r.low, r.high, ctx);
      }),
    );
  if (row.lastUpdated) return match(row.lastUpdated);
  // A chain's target or a _has source (`subject._lastUpdated=ge2024`): the index rows carry no
  // lastUpdated, so it is read from the stored resource, in the table(s) its type can live in.
  const f = alias('u', ctx);
  const arms: Sql[] = [];
  const where = (extra: Sql[]) => and([sql`${f}.resource_type = ${row.type}`, sql`${f}.id = ${row.id}`, sql`NOT ${f}.deleted`, ...extra, match(sql`${f}.last_updated`)]);
  if (type !== 'Patient') arms.push(sql`EXISTS (SELECT 1 FROM fhir_resource ${f} WHERE ${where([])})`);
  if (type === 'Patient' || patientCompartmentPaths(type).length > 0) {
    // A confined token never learns when another patient's resource changed.
    const confine = ctx.compartment !== undefined ? [sql`${f}.patient_id = ${ctx.compartment}`] : [];
    arms.push(sql`EXISTS (SELECT 1 FROM fhir_patient_resource ${f} WHERE ${where(confine)})`);
  }
  return or(arms);
}

/** `ref.param=x` or `ref:Type.param=x`: the reference's targets of each candidate type that match `param=x`. */
function chainCondition(type: string, row: RowRef, head: string, rest: string, value: string, ctx: ConditionContext, depth: number): Sql {
  const [code, typeModifier, extra] = head.split(':');
  if (extra !== undefined) throw badRequest(`${truncate(head)}: a chained parameter takes at most a type`);
  const def = searchParam(type, code);
  if (!def) throw new UnknownParameterError(`${type} has no search parameter "${truncate(code)}"`);
  if (def.type !== 'reference') throw badRequest(`${code} is a ${def.type} parameter of ${type}: only reference parameters can be chained`);
  if (typeModifier !== undefined && (!isResourceType(typeModifier) || (def.targets.length && !def.targets.includes(typeModifier)))) {
    throw badRequest(`${code}:${truncate(typeModifier)}: ${typeModifier} is not a resource type ${code} may refer to`);
  }
  const nextCode = rest.split(/[.:]/)[0];
  const allowed = (typeModifier ? [typeModifier] : def.targets).filter((t) => ctx.canSearch(t));
  if (!allowed.length) throw forbidden(`${type}.${code}: the token may not search the types it refers to (${(typeModifier ? [typeModifier] : def.targets).join(', ')})`);
  const candidates = allowed.filter(
    (t) => ['_id', '_lastUpdated', '_has'].includes(nextCode) || nextCode.startsWith('_has') || !!searchParam(t, nextCode),
  );
  if (!candidates.length) throw new UnknownParameterError(`No resource type that ${type}.${code} refers to has a search parameter "${truncate(nextCode)}"`);
  const x = alias('r', ctx);
  const branches = candidates.map((t) =>
    and([
      sql`${x}.target_type = ${nameLit(t)}`,
      clauseCondition(t, { type: sql`${nameLit(t)}::text`, id: sql`${x}.target_id` }, rest, value, ctx, depth + 1),
      // A confined token's chain never passes through a shared resource it may not see.
      ...(ctx.compartment !== undefined ? [sharedTargetVisible(t, sql`${x}.target_id`, ctx.compartment, alias('v', ctx))] : []),
    ]),
  );
  // A chain inside a chain or a _has (`encounter.subject.name`) is probed per reference (OFFSET 0
  // keeps PostgreSQL from flattening it into the outer joins). Flattened, every level became a
  // nested loop whose inner side scans all index rows of its code when the planner has no
  // statistics yet (a first import; autovacuum off): 176 s for 1,535 Observations instead of 0.3 s.
  const fence = depth > 0 ? sql` OFFSET 0` : sql``;
  return sql`EXISTS (SELECT 1 FROM ${raw(indexTable(type, 'reference'))} ${x} WHERE ${rowMatch(x, row, code, ctx)} AND ${or(branches)}${fence})`;
}

/** `_has:Source:refParam:param=x`: resources that a matching Source refers to through refParam. */
function hasCondition(type: string, row: RowRef, name: string, value: string, ctx: ConditionContext, depth: number): Sql {
  const m = /^_has:([A-Z][A-Za-z]+):([A-Za-z0-9_-]+):(.+)$/.exec(name);
  if (!m) throw badRequest(`${truncate(name)}: reverse chains are _has:Type:reference-parameter:parameter`);
  const [, source, refCode, rest] = m;
  if (!isResourceType(source)) throw badRequest(`_has: "${truncate(source)}" is not a resource type`);
  const ref = searchParam(source, refCode);
  if (!ref) throw new UnknownParameterError(`${source} has no search parameter "${truncate(refCode)}"`);
  if (ref.type !== 'reference') throw badRequest(`_has: ${source}.${refCode} is a ${ref.type} parameter, not a reference`);
  if (!mayReferTo(ref, type)) throw new ImpossibleTargetError(`_has:${source}:${refCode}: ${source}'s ${refCode} refers only to ${targetsText(ref)}, never to a ${type}`);
  if (!ctx.canSearch(source)) throw forbidden(`_has: the token may not search ${source}`);
  const h = alias('h', ctx);
  const parts = [sql`${h}.target_id = ${row.id}`, sql`${h}.target_type = ${row.type}`, sql`${h}.resource_type = ${nameLit(source)}`, sql`${h}.code = ${nameLit(refCode)}`];
  if (ctx.compartment !== undefined) {
    parts.push(sql`${h}.patient_id IN ('', ${ctx.compartment})`);
    parts.push(sharedTargetVisible(source, sql`${h}.resource_id`, ctx.compartment, alias('v', ctx)));
  }
  const inner = clauseCondition(source, { type: sql`${h}.resource_type`, id: sql`${h}.resource_id` }, rest, value, ctx, depth + 1);
  return sql`EXISTS (SELECT 1 FROM ${raw(indexTable(source, 'reference'))} ${h} WHERE ${and(parts)} AND ${inner})`;
}
