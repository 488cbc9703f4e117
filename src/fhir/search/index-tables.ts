/**
 * Which table (or view) holds the search-index rows of a parameter type for a resource type.
 *
 * Every type's rows live in one table per parameter type (search_token, search_string, ...),
 * except the token and string rows of PACKED_INDEX_TYPES: those are packed into one row per
 * resource (search_packed, parallel arrays) and read through views with the columns of
 * search_token and search_string (search_token_packed, search_string_packed), so that every
 * condition, sort and chain is the same SQL over either. The server's own AuditEvents are such a
 * type: one per request, written in bulk, searched by administrators. Their seven token rows and
 * address row cost PostgreSQL about 0.2 ms per event in their indexed tables; one packed row about
 * 0.03 ms (docs/BENCHMARKS.md). The price: a search that matches them by a token or string value
 * has no value index and reads their packed rows (dates, references and _lastUpdated, which
 * audit searches usually start from, keep their indexes).
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

const PACKED_VIEWS: Record<string, string> = { string: 'search_string_packed', token: 'search_token_packed' };

/** The table or view to read `kind` rows of `resourceType` from (kind: a parameter type that has index rows). */
export function indexTable(resourceType: string, kind: string): string {
  const table = (PACKED_INDEX_TYPES.has(resourceType) && PACKED_VIEWS[kind]) || TABLES[kind];
  if (!table) throw new Error(`no search index table for ${kind} parameters`);
  return table;
}
