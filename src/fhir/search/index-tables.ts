/**
 * Which table (or view) holds the search-index rows of a parameter type for a resource type.
 *
 * Every type's rows live in one table per parameter type (search_token, search_string, ...),
 * except the rows of PACKED_INDEX_TYPES, which are kept apart:
 * - their token and string rows are packed into one row per resource (search_packed, parallel
 *   arrays) and read through views with the columns of search_token and search_string
 *   (search_token_packed, search_string_packed);
 * - their reference and date rows live in tables of their own with the columns of search_reference
 *   and search_date (search_reference_audit, search_date_audit).
 * So every condition, sort and chain is the same SQL over either. The server's own AuditEvents are
 * such a type: one per request, written in bulk, searched by administrators. Their seven token rows
 * and address row cost PostgreSQL about 0.2 ms per event in their indexed tables; one packed row
 * about 0.03 ms (docs/BENCHMARKS.md). The price: a search that matches them by a token or string
 * value has no value index and reads their packed rows (dates, references and _lastUpdated, which
 * audit searches usually start from, keep their indexes). Their references and dates are kept
 * apart because they outnumber every other type's within hours (two references and a date per
 * request): in the shared tables they grew the indexes every clinical search reads and, between
 * two ANALYZEs, turned the planner's estimates for those searches stale.
 */
export const PACKED_INDEX_TYPES: ReadonlySet<string> = new Set(['AuditEvent']);

const TABLES: Record<string, string> = {
  string: 'search_string',
  token: 'search_token',
  date: 'search_date',
  number: 'search_number',
  quantity: 'search_quantity',
  reference: 'search_reference',
  uri: 'search_uri',
};

const APART: Record<string, string> = {
  string: 'search_string_packed',
  token: 'search_token_packed',
  reference: 'search_reference_audit',
  date: 'search_date_audit',
};

/** Tables that hold rows of PACKED_INDEX_TYPES only (the packed views' table included). */
export const APART_TABLES: readonly string[] = ['search_packed', APART.reference, APART.date];

/** The table or view to read `kind` rows of `resourceType` from (kind: a parameter type that has index rows). */
export function indexTable(resourceType: string, kind: string): string {
  const table = (PACKED_INDEX_TYPES.has(resourceType) && APART[kind]) || TABLES[kind];
  if (!table) throw new Error(`no search index table for ${kind} parameters`);
  return table;
}

/**
 * The reference rows of resources of `types` (undefined: of every type but `hidden`), as a FROM
 * item: search_reference alone unless a kept-apart type may be among them, its own table alone if
 * only such types are, else both.
 */
export function referenceRows(types: readonly string[] | undefined, hidden: readonly string[] = []): string {
  const apart = [...PACKED_INDEX_TYPES].filter((t) => (types ? types.includes(t) : !hidden.includes(t)));
  if (!apart.length) return TABLES.reference;
  if (types && types.every((t) => PACKED_INDEX_TYPES.has(t))) return APART.reference;
  return `(SELECT * FROM ${TABLES.reference} UNION ALL SELECT * FROM ${APART.reference})`;
}
