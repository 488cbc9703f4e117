import { Injectable } from '@nestjs/common';
import type { Identifier, Resource } from '@medplum/fhirtypes';
import { KeyRing } from '../../crypto/key-ring';
import type { Tx } from '../../database/database.service';
import { isEncryptedType } from '../store/sensitivity';

/** A token to match: `system|value`, `|value` (no system), `value` (any system), `system|` (any value in system). */
export interface TokenQuery {
  system?: string;
  value?: string;
  /** True for `|value`: only tokens without a system. */
  noSystem?: boolean;
}

interface TokenRow {
  code: string;
  system: string | null;
  value: string;
}

/**
 * The token search index, for now over `identifier` (what conditional interactions and conditional
 * references match on). Values are matched by HMAC, so identifiers of encrypted resources are
 * indexed without their plaintext.
 */
@Injectable()
export class TokenIndex {
  constructor(private readonly keys: KeyRing) {}

  /** Replaces the index rows of several resources: one DELETE for the updated ones, one INSERT for all. */
  async indexMany(tx: Tx, items: Array<{ resource: Resource; patientId: string | null; isNew: boolean }>): Promise<void> {
    const updated = items.filter((i) => !i.isNew).map((i) => i.resource);
    if (updated.length) {
      await tx.query('DELETE FROM search_token WHERE (resource_type, resource_id) IN (SELECT * FROM unnest(?::text[], ?::text[]))', [
        updated.map((r) => r.resourceType),
        updated.map((r) => r.id),
      ]);
    }
    const params: unknown[] = [];
    const tuples: string[] = [];
    for (const { resource, patientId } of items) {
      const encrypted = isEncryptedType(resource.resourceType);
      for (const r of dedupe(tokensOf(resource))) {
        params.push(
          patientId ?? '',
          resource.resourceType,
          resource.id,
          r.code,
          r.system,
          encrypted ? null : r.value,
          this.hash(r.system ?? '', r.value),
          this.hash('', r.value),
        );
        tuples.push('(?, ?, ?, ?, ?, ?, ?, ?)');
      }
    }
    for (let i = 0; i < tuples.length; i += 1000) {
      await tx.query(
        `INSERT INTO search_token (patient_id, resource_type, resource_id, code, system, value, hash_system_value, hash_value)
         VALUES ${tuples.slice(i, i + 1000).join(', ')} ON CONFLICT DO NOTHING`,
        params.slice(i * 8, (i + 1000) * 8),
      );
    }
  }

  async remove(tx: Tx, resourceType: string, id: string): Promise<void> {
    await tx.query('DELETE FROM search_token WHERE resource_type = ? AND resource_id = ?', [resourceType, id]);
  }

  /** Ids of current resources of `resourceType` whose `code` token matches. */
  async match(tx: Pick<Tx, 'query'>, resourceType: string, code: string, q: TokenQuery): Promise<string[]> {
    let sql = 'SELECT DISTINCT resource_id FROM search_token WHERE resource_type = ? AND code = ?';
    const params: unknown[] = [resourceType, code];
    if (q.value !== undefined && q.system !== undefined) {
      sql += ' AND hash_system_value = ?';
      params.push(this.hash(q.system, q.value));
    } else if (q.value !== undefined && q.noSystem) {
      sql += ' AND hash_system_value = ?';
      params.push(this.hash('', q.value));
    } else if (q.value !== undefined) {
      sql += ' AND hash_value = ?';
      params.push(this.hash('', q.value));
    } else if (q.system !== undefined) {
      sql += ' AND system = ?';
      params.push(q.system);
    }
    const rows = await tx.query<{ resource_id: string }>(sql, params);
    return rows.map((r) => r.resource_id);
  }

  private hash(system: string, value: string): Buffer {
    return this.keys.blindIndex(`token:${system}|${value}`);
  }
}

/** The tokens a resource is found by. Pure. */
export function tokensOf(resource: Resource): TokenRow[] {
  const identifiers = (resource as { identifier?: Identifier | Identifier[] }).identifier;
  const list = Array.isArray(identifiers) ? identifiers : identifiers ? [identifiers] : [];
  return list.filter((i) => typeof i?.value === 'string').map((i) => ({ code: 'identifier', system: i.system ?? null, value: i.value as string }));
}

function dedupe(rows: TokenRow[]): TokenRow[] {
  const seen = new Set<string>();
  return rows.filter((r) => {
    const k = `${r.code}\u0000${r.system ?? ''}\u0000${r.value}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Parses a token search value: `system|value`, `|value`, `system|`, `value`. */
export function parseToken(raw: string): TokenQuery {
  const bar = indexOfUnescaped(raw, '|');
  if (bar < 0) return { value: unescape(raw) };
  const system = raw.slice(0, bar);
  const value = raw.slice(bar + 1);
  if (!system) return { value: unescape(value), noSystem: true };
  return value ? { system: unescape(system), value: unescape(value) } : { system: unescape(system) };
}

function indexOfUnescaped(s: string, ch: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === ch) return i;
  }
  return -1;
}

function unescape(s: string): string {
  return s.replace(/\\([\\|,$])/g, '$1');
}
