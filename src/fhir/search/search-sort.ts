import { Sql, and, or, raw, sql } from '../../database/sql-fragment';
import { badRequest } from '../operation-outcome';
import { isEncryptedType } from '../store/sensitivity';
import { searchParam } from './search-parameters';
import { isSecretParam } from './search-secrets';
import { indexTable } from './index-tables';
import type { SortSpec } from './search-request';
import { nameLit } from './sql-names';

/** One ORDER BY key: an SQL expression over the resource row `r`, its type for casts, its direction. */
export interface SortKey {
  expr: Sql;
  cast: 'text' | 'timestamptz' | 'numeric';
  descending: boolean;
}

/**
 * The sort keys of a search, always ending with the resource type and id so that the order is
 * total (what keyset paging needs). A parameter with several values sorts by its lowest value
 * ascending and its highest descending; resources without a value come last.
 */
export function sortKeys(type: string | undefined, specs: SortSpec[]): SortKey[] {
  const keys: SortKey[] = [];
  for (const s of specs) {
    if (s.code === '_id') keys.push({ expr: sql`r.id`, cast: 'text', descending: s.descending });
    else if (s.code === '_lastUpdated') keys.push({ expr: sql`r.last_updated`, cast: 'timestamptz', descending: s.descending });
    else keys.push(paramKey(type, s));
  }
  keys.push({ expr: sql`r.resource_type`, cast: 'text', descending: false }, { expr: sql`r.id`, cast: 'text', descending: false });
  return keys;
}

function paramKey(type: string | undefined, s: SortSpec): SortKey {
  if (!type) throw badRequest(`_sort=${s.code}: sorting by a search parameter needs one resource type (use _type with one type)`);
  const def = searchParam(type, s.code);
  if (!def?.atom) throw badRequest(`_sort: ${type} has no sortable search parameter "${s.code}"`);
  // Its index rows hold keyed hashes, no clear value: every row would sort as "no value", in id
  // order, while the self link claimed the sort.
  if (isEncryptedType(type) && isSecretParam(type, def.code)) throw badRequest(`_sort: ${def.code} is encrypted at rest and matched by keyed hash only, so ${type} cannot be sorted by it`);
  const agg = s.descending ? 'max' : 'min';
  const where = sql`x.resource_type = r.resource_type AND x.resource_id = r.id AND x.code = ${nameLit(def.code)}`;
  const sub = (table: string, column: string, cast: SortKey['cast']): SortKey => ({
    expr: sql`(SELECT ${raw(agg)}(${raw(column)}) FROM ${raw(table)} x WHERE ${where})`,
    cast,
    descending: s.descending,
  });
  switch (def.type) {
    case 'string':
      return sub(indexTable(type, 'string'), 'x.value', 'text');
    case 'token':
      return sub(indexTable(type, 'token'), 'x.value', 'text');
    case 'uri':
      return sub(indexTable(type, 'uri'), 'x.value', 'text');
    case 'reference':
      // A contained resource's `#id` is no sort key: such resources sort with those without a value.
      return sub(indexTable(type, 'reference'), "coalesce(x.target_type || '/' || x.target_id, CASE WHEN x.url LIKE '#%' THEN NULL ELSE x.url END)", 'text');
    case 'date':
      return sub(indexTable(type, 'date'), s.descending ? 'x.high' : 'x.low', 'timestamptz');
    case 'number':
      return sub(indexTable(type, 'number'), s.descending ? 'x.high' : 'x.low', 'numeric');
    case 'quantity':
      return sub(indexTable(type, 'quantity'), s.descending ? 'x.high' : 'x.low', 'numeric');
    default:
      throw badRequest(`_sort: ${def.type} parameters (${def.code}) cannot be sorted`);
  }
}

/**
 * The keyset condition for rows strictly after (or, with `before`, strictly before) the row whose
 * sort values are `values`, in the order of `keys`, over the selected columns k0, k1... Each key
 * is preceded by its null flag (nulls last in both directions).
 */
export function keysetCondition(keys: SortKey[], values: Array<string | null>, before: boolean): Sql {
  const disjuncts: Sql[] = [];
  const equal: Sql[] = [];
  keys.forEach((k, i) => {
    const col = raw(`k${i}`);
    const v = values[i];
    const isNull = v === null;
    // the null flag: false (has a value) sorts before true
    disjuncts.push(and([...equal, before ? sql`(${col} IS NULL) < ${isNull}` : sql`(${col} IS NULL) > ${isNull}`]));
    equal.push(sql`(${col} IS NULL) = ${isNull}`);
    if (!isNull) {
      const greater = k.descending === before;
      const cmp = greater ? sql`${col} > ${v}::${raw(k.cast)}` : sql`${col} < ${v}::${raw(k.cast)}`;
      disjuncts.push(and([...equal, cmp]));
      equal.push(sql`${col} = ${v}::${raw(k.cast)}`);
    }
  });
  return or(disjuncts);
}

/** ORDER BY over the selected columns, reversed when paging backwards. */
export function orderBy(keys: SortKey[], reverse: boolean): Sql {
  const parts = keys.flatMap((k, i) => {
    const dir = k.descending !== reverse ? 'DESC' : 'ASC';
    const flagDir = reverse ? 'DESC' : 'ASC';
    return [`(k${i} IS NULL) ${flagDir}`, `k${i} ${dir}`];
  });
  return new Sql(parts.join(', '), []);
}
