import type { Client } from 'pg';
import { distributionColumn, kindOf, type CitusPlan } from './citus-plan';

/** What the readiness check needs from the catalog (plain PostgreSQL; no Citus required). */
export interface SchemaCatalog {
  tables: Array<{ table: string; columns: Array<{ name: string; notNull: boolean; identity: boolean }> }>;
  /** Primary keys, unique indexes and exclusion constraints. */
  uniques: Array<{ table: string; name: string; columns: string[] }>;
  foreignKeys: Array<{ table: string; name: string; columns: string[]; refTable: string; refColumns: string[]; onDelete: string }>;
}

/**
 * Where the schema breaks a rule Citus enforces for the plan, in words: every table planned; a
 * distributed table's distribution column present and NOT NULL (Citus refuses a NULL there); every
 * unique constraint of a distributed table includes its distribution column; a foreign key between
 * distributed tables joins co-located tables on the distribution column; no reference or
 * coordinator-local table points at a distributed one; no SET NULL/SET DEFAULT on a distribution
 * column; no identity column in a distributed table. Pure.
 */
export function readinessProblems(catalog: SchemaCatalog, plan: CitusPlan): string[] {
  const problems: string[] = [];
  const colocatedGroup = (t: string) => (t === plan.root.table || plan.colocated.includes(t) ? 'patient' : t);
  for (const t of catalog.tables) {
    const kind = kindOf(plan, t.table);
    if (!kind) {
      problems.push(`${t.table}: not in the Citus plan (src/database/citus/citus-plan.ts)`);
      continue;
    }
    const dist = distributionColumn(plan, t.table);
    if (!dist) continue;
    const col = t.columns.find((c) => c.name === dist);
    if (!col) problems.push(`${t.table}: has no distribution column ${dist}`);
    else if (!col.notNull) problems.push(`${t.table}.${dist}: the distribution column must be NOT NULL`);
    for (const c of t.columns.filter((x) => x.identity)) problems.push(`${t.table}.${c.name}: identity columns are not supported in distributed tables (use a sequence default)`);
  }
  for (const u of catalog.uniques) {
    const dist = distributionColumn(plan, u.table);
    if (dist && !u.columns.includes(dist)) problems.push(`${u.table}: unique constraint ${u.name} (${u.columns.join(', ')}) does not include the distribution column ${dist}`);
  }
  for (const fk of catalog.foreignKeys) {
    const from = kindOf(plan, fk.table);
    const to = kindOf(plan, fk.refTable);
    if (!from || !to) continue; // reported above
    if (to === 'distributed' && from !== 'distributed') {
      problems.push(`${fk.table}: ${fk.name} makes a ${from} table reference the distributed table ${fk.refTable}`);
      continue;
    }
    if (from === 'reference' && to === 'coordinator-local') problems.push(`${fk.table}: ${fk.name} makes a reference table reference the coordinator-local table ${fk.refTable}`);
    if (from === 'distributed' && to === 'distributed') {
      const dist = distributionColumn(plan, fk.table) as string;
      const refDist = distributionColumn(plan, fk.refTable) as string;
      const i = fk.columns.indexOf(dist);
      if (colocatedGroup(fk.table) !== colocatedGroup(fk.refTable)) problems.push(`${fk.table}: ${fk.name} joins tables that are not co-located (${fk.refTable})`);
      else if (i < 0 || fk.refColumns[i] !== refDist) problems.push(`${fk.table}: ${fk.name} must include ${dist} → ${fk.refTable}.${refDist}`);
      if ((fk.onDelete === 'n' || fk.onDelete === 'd') && i >= 0) problems.push(`${fk.table}: ${fk.name} may not SET NULL/DEFAULT the distribution column`);
    }
    if (from === 'distributed' && to === 'coordinator-local') problems.push(`${fk.table}: ${fk.name} makes a distributed table reference the coordinator-local table ${fk.refTable}`);
  }
  return problems;
}

/** Reads the catalog of the public schema. */
export async function loadSchemaCatalog(client: Pick<Client, 'query'>): Promise<SchemaCatalog> {
  const { rows: cols } = await client.query<{ table: string; name: string; not_null: boolean; identity: boolean }>(
    `SELECT c.relname::text AS table, a.attname::text AS name, a.attnotnull AS not_null, a.attidentity <> '' AS identity
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY 1, a.attnum`,
  );
  const tables = new Map<string, SchemaCatalog['tables'][number]>();
  for (const r of cols) {
    const t = tables.get(r.table) ?? { table: r.table, columns: [] };
    t.columns.push({ name: r.name, notNull: r.not_null, identity: r.identity });
    tables.set(r.table, t);
  }
  const { rows: uniques } = await client.query<{ table: string; name: string; columns: string[] }>(
    `SELECT c.relname::text AS table, i.relname::text AS name,
            array(SELECT a.attname FROM unnest(x.indkey) k JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k)::text[] AS columns
       FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND (x.indisunique OR x.indisexclusion)`,
  );
  const { rows: fks } = await client.query<{ table: string; name: string; columns: string[]; ref_table: string; ref_columns: string[]; on_delete: string }>(
    `SELECT c.relname::text AS table, k.conname::text AS name,
            array(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, o) JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.o)::text[] AS columns,
            r.relname::text AS ref_table,
            array(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, o) JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.o)::text[] AS ref_columns,
            k.confdeltype AS on_delete
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND k.contype = 'f'`,
  );
  return {
    tables: [...tables.values()],
    uniques: uniques.map((u) => ({ table: u.table, name: u.name, columns: u.columns })),
    foreignKeys: fks.map((f) => ({ table: f.table, name: f.name, columns: f.columns, refTable: f.ref_table, refColumns: f.ref_columns, onDelete: f.on_delete })),
  };
}
