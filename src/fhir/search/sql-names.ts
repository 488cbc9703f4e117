import { Sql } from '../../database/sql-fragment';

const NAME = /^[A-Za-z0-9_.:#-]{1,128}$/;

/**
 * A name from the definitions (a resource type, a search parameter code) inlined in the SQL text
 * as a literal. Search statements are kept prepared, and a generic plan only knows what the text
 * says: with the type as a parameter, PostgreSQL planned `resource_type = ANY($1)` for every
 * type at once (a scan of all shared resources: 70–100 ms instead of 3). Only ever for names the
 * code took from the definitions, never for values from the request; checked all the same.
 */
export function nameLit(name: string): Sql {
  if (!NAME.test(name)) throw new Error(`"${name.slice(0, 40)}" is not a resource type or parameter code`);
  return new Sql(`'${name}'`, []);
}

/** Several names as a literal text[]. */
export function namesLit(names: string[]): Sql {
  return new Sql(`ARRAY[${names.map((n) => nameLit(n).text).join(',')}]::text[]`, []);
}
