import { Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { KeyRing } from '../../crypto/key-ring';
import type { Tx } from '../../database/database.service';
import { isEncryptedType } from '../store/sensitivity';
import { extractIndexRows, extractTokenRows, type IndexRows, type StringRow, type TokenRow } from './index-extractor';
import { APART_TABLES, PACKED_INDEX_TYPES, indexTable } from './index-tables';
import { isSecretParam } from './search-secrets';
import { capText } from './search-values';

type Column = { name: string; type: string; of: (row: never) => unknown };

const BASE: Column[] = [
  { name: 'patient_id', type: 'text', of: () => undefined },
  { name: 'resource_type', type: 'text', of: () => undefined },
  { name: 'resource_id', type: 'text', of: () => undefined },
  { name: 'code', type: 'text', of: (r: { code: string }) => r.code },
  { name: 'grp', type: 'int', of: (r: { grp: number }) => r.grp },
];

/** The shared table and value columns of each row kind (indexTable says where a type's rows go); `hashed` rows (secret fields) are written by `secretRow`. */
const TABLES: Record<keyof IndexRows, { table: string; columns: Column[] }> = {
  string: {
    table: 'search_string',
    columns: [
      { name: 'value', type: 'text', of: (r: { value: string | null }) => r.value },
      { name: 'exact', type: 'text', of: (r: { exact: string | null }) => r.exact },
      { name: 'hash', type: 'bytea', of: (r: { hash?: Buffer }) => r.hash ?? null },
    ],
  },
  token: {
    table: 'search_token',
    columns: [
      { name: 'system', type: 'text', of: (r: { system: string | null }) => r.system },
      { name: 'value', type: 'text', of: (r: { value: string | null }) => r.value },
      { name: 'text', type: 'text', of: (r: { text: string | null }) => r.text },
      { name: 'hash_system_value', type: 'bytea', of: (r: { hashSystemValue?: Buffer }) => r.hashSystemValue ?? null },
      { name: 'hash_value', type: 'bytea', of: (r: { hashValue?: Buffer }) => r.hashValue ?? null },
    ],
  },
  date: {
    table: 'search_date',
    columns: [
      { name: 'low', type: 'timestamptz', of: (r: { low: string }) => r.low },
      { name: 'high', type: 'timestamptz', of: (r: { high: string }) => r.high },
    ],
  },
  number: {
    table: 'search_number',
    columns: [
      { name: 'low', type: 'numeric', of: (r: { low: string }) => r.low },
      { name: 'high', type: 'numeric', of: (r: { high: string }) => r.high },
    ],
  },
  quantity: {
    table: 'search_quantity',
    columns: [
      { name: 'system', type: 'text', of: (r: { system: string | null }) => r.system },
      { name: 'unit', type: 'text', of: (r: { unit: string | null }) => r.unit },
      { name: 'low', type: 'numeric', of: (r: { low: string }) => r.low },
      { name: 'high', type: 'numeric', of: (r: { high: string }) => r.high },
    ],
  },
  reference: {
    table: 'search_reference',
    columns: [
      { name: 'target_type', type: 'text', of: (r: { targetType: string | null }) => r.targetType },
      { name: 'target_id', type: 'text', of: (r: { targetId: string | null }) => r.targetId },
      { name: 'url', type: 'text', of: (r: { url: string | null }) => r.url },
    ],
  },
  uri: { table: 'search_uri', columns: [{ name: 'value', type: 'text', of: (r: { value: string }) => r.value }] },
};

export const SEARCH_TABLES = [...Object.values(TABLES).map((t) => t.table), ...APART_TABLES];

/**
 * The token and string rows of a resource of PACKED_INDEX_TYPES as one row (index-tables.ts): each
 * column one array, passed as its array literal (arrayLiteral), so that a resource's arrays can have
 * any length (a bind parameter of text[][] must be rectangular).
 */
const PACKED_COLUMNS = ['token_codes', 'token_systems', 'token_values', 'token_texts', 'string_codes', 'string_values', 'string_exacts'];
const PACKED_INSERT = `INSERT INTO search_packed (patient_id, resource_type, resource_id, ${PACKED_COLUMNS.join(', ')})
  SELECT patient_id, resource_type, resource_id, ${PACKED_COLUMNS.map((c) => `${c}::text[]`).join(', ')}
  FROM unnest(${['patient_id', 'resource_type', 'resource_id', ...PACKED_COLUMNS].map(() => '?::text[]').join(', ')})
       AS v(patient_id, resource_type, resource_id, ${PACKED_COLUMNS.join(', ')})`;

/** A PostgreSQL array literal of text values (NULL for null). */
export function arrayLiteral(values: ReadonlyArray<string | null>): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)).join(',')}}`;
}

const KINDS = Object.keys(TABLES) as Array<keyof IndexRows>;
/** Every column of each table, in INSERT order. */
const COLUMNS = Object.fromEntries(KINDS.map((k) => [k, [...BASE, ...TABLES[k].columns]])) as Record<keyof IndexRows, Column[]>;

/**
 * Writes the search index of resources, as part of the one write path: a resource's rows are
 * replaced with each new version and removed when it is deleted. Rows for the secret fields of
 * encrypted types (contact details, identifiers) carry keyed hashes instead of text.
 */
/** Resources whose index rows are computed between two chances for other work to run (FHIRPath costs about 0.1-0.2 ms each). */
const YIELD_EVERY = 32;
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

@Injectable()
export class SearchIndexWriter {
  constructor(private readonly keys: KeyRing) {}

  /** Replaces the rows of several resources: one statement removes the updated ones' rows from every table, one inserts all rows. */
  async indexMany(tx: Tx, items: Array<{ resource: Resource; patientId: string | null; isNew: boolean }>): Promise<void> {
    const updated = items.filter((i) => !i.isNew).map((i) => i.resource);
    if (updated.length) await this.removeMany(tx, updated);
    // Rows by the table they go to (a kind's shared table, or its table apart: index-tables.ts).
    const columns = new Map<string, { kind: keyof IndexRows; cols: unknown[][] }>();
    const packed: string[][] = Array.from({ length: 3 + PACKED_COLUMNS.length }, () => []);
    for (let i = 0; i < items.length; i++) {
      // A large batch (the AuditEvents of a few hundred requests, a bulk chunk) is evaluated in slices: requests waiting meanwhile are served.
      if (i > 0 && i % YIELD_EVERY === 0) await yieldToEventLoop();
      const { resource, patientId } = items[i];
      const rows = extractIndexRows(resource);
      const encrypted = isEncryptedType(resource.resourceType);
      const packs = PACKED_INDEX_TYPES.has(resource.resourceType);
      if (packs) {
        // Packed rows have no hash columns: a type with secret fields is never packed.
        if (encrypted) throw new Error(`${resource.resourceType} is encrypted: its index rows cannot be packed`);
        const cap = (v: string | null) => (v === null ? null : capText(v));
        const tokens = rows.token as TokenRow[];
        const strings = rows.string as StringRow[];
        const row = [
          patientId ?? '',
          resource.resourceType,
          resource.id as string,
          ...[tokens.map((r) => r.code), tokens.map((r) => cap(r.system)), tokens.map((r) => cap(r.value)), tokens.map((r) => cap(r.text))].map(arrayLiteral),
          ...[strings.map((r) => r.code), strings.map((r) => capText(r.value)), strings.map((r) => capText(r.exact))].map(arrayLiteral),
        ];
        row.forEach((v, n) => packed[n].push(v));
      }
      for (const kind of KINDS) {
        if (packs && (kind === 'token' || kind === 'string')) continue;
        if (!rows[kind].length) continue;
        const table = indexTable(resource.resourceType, kind);
        let target = columns.get(table);
        if (!target) columns.set(table, (target = { kind, cols: COLUMNS[kind].map(() => []) }));
        const { cols } = target;
        const spec = COLUMNS[kind];
        for (const raw of rows[kind]) {
          const row = encrypted && isSecretParam(resource.resourceType, raw.code) ? this.secretRow(kind, raw) : raw;
          cols[0].push(patientId ?? '');
          cols[1].push(resource.resourceType);
          cols[2].push(resource.id);
          for (let c = 3; c < spec.length; c++) {
            const v = spec[c].of(row as never);
            cols[c].push(typeof v === 'string' ? capText(v) : v);
          }
        }
      }
    }
    // One statement for every table that gets rows (a data-modifying CTE per table), each column
    // one array parameter: a few statement texts in all, and one round trip per write instead of one per table.
    const inserts: string[] = [];
    const params: unknown[] = [];
    // Tables in a fixed order, so that the same kinds of rows make the same statement text.
    for (const table of [...columns.keys()].sort()) {
      const { kind, cols } = columns.get(table) as { kind: keyof IndexRows; cols: unknown[][] };
      const spec = COLUMNS[kind];
      inserts.push(`INSERT INTO ${table} (${spec.map((c) => c.name).join(', ')}) SELECT * FROM unnest(${spec.map((c) => `?::${c.type}[]`).join(', ')})`);
      params.push(...cols);
    }
    if (packed[0].length) {
      inserts.push(PACKED_INSERT);
      params.push(...packed);
    }
    if (inserts.length) await tx.query(allInOne(inserts), params);
  }

  async removeMany(tx: Tx, resources: Array<{ resourceType: string; id?: string }>): Promise<void> {
    if (!resources.length) return;
    const types = resources.map((r) => r.resourceType);
    const ids = resources.map((r) => r.id);
    await tx.query(
      allInOne(SEARCH_TABLES.map((table) => `DELETE FROM ${table} WHERE (resource_type, resource_id) IN (SELECT * FROM unnest(?::text[], ?::text[]))`)),
      SEARCH_TABLES.flatMap(() => [types, ids]),
    );
  }

  /** The keyed hash of a token (`system|value`), as the search side computes it. */
  tokenHash(system: string, value: string): Buffer {
    return this.keys.blindIndex(`token:${system}|${value}`);
  }

  /**
   * Whether `resource`, once indexed, would match the token search `code=system|value` (both
   * non-empty, as the search side reads them: unescaped and capped): the rows it would write
   * compared as the SQL condition compares them (the keyed hash for secret fields). Lets a
   * batch chunk match its own unflushed writes.
   */
  matchesToken(resource: Resource, code: string, system: string, value: string): boolean {
    return this.tokenKeys(resource, code).has(tokenKey(system, value));
  }

  /**
   * The `system|value` pairs (as tokenKey makes them) that a token search on `code` would find
   * `resource` by once indexed: capped clear text, or for a secret field the raw values its keyed
   * hash is made of (the search side hashes its capped criteria, so the two meet only when equal).
   */
  tokenKeys(resource: Resource, code: string): Set<string> {
    const secret = isEncryptedType(resource.resourceType) && isSecretParam(resource.resourceType, code);
    const keys = new Set<string>();
    for (const r of extractTokenRows(resource, code)) {
      if (r.value === null) continue;
      if (secret) keys.add(tokenKey(r.system ?? '', r.value));
      else if (r.system !== null) keys.add(tokenKey(capText(r.system), capText(r.value)));
    }
    return keys;
  }

  stringHash(normalized: string): Buffer {
    return this.keys.blindIndex(`string:${normalized}`);
  }

  private secretRow(kind: keyof IndexRows, raw: unknown): unknown {
    if (kind === 'token') {
      const r = raw as { system: string | null; value: string | null };
      if (r.value === null) return { ...r, text: null };
      return { ...r, value: null, text: null, hashSystemValue: this.tokenHash(r.system ?? '', r.value), hashValue: this.tokenHash('', r.value) };
    }
    if (kind === 'string') {
      const r = raw as { value: string };
      return { ...r, value: null, exact: null, hash: this.stringHash(r.value) };
    }
    return raw;
  }
}

/** Several data-modifying statements (on different tables) as one: all but the last become CTEs. */
function allInOne(statements: string[]): string {
  const last = statements.length - 1;
  return last ? `WITH ${statements.slice(0, last).map((sql, i) => `w${i} AS (${sql})`).join(',\n     ')}\n${statements[last]}` : statements[0];
}

/** One token criteria or indexed pair, for comparing them in memory (SearchIndexWriter.tokenKeys). */
export function tokenKey(system: string, value: string): string {
  return `${system}\u0000${value}`;
}
