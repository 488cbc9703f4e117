import { Injectable } from '@nestjs/common';
import type { Tx } from '../../database/database.service';
import { badRequest } from '../operation-outcome';
import { ResourceStore } from '../store/resource-store.repository';
import { TokenIndex, parseToken } from './token-index';

/**
 * Resolves conditional criteria (`identifier=system|value&_id=...`), as used by conditional
 * create (ifNoneExist), conditional update/delete and conditional references in bundles, to the
 * ids of the current resources that match every parameter.
 */
@Injectable()
export class ConditionalMatcher {
  constructor(
    private readonly tokens: TokenIndex,
    private readonly store: ResourceStore,
  ) {}

  async match(tx: Pick<Tx, 'query'>, resourceType: string, criteria: string): Promise<string[]> {
    const params = new URLSearchParams(criteria);
    const entries = [...params.entries()].filter(([k]) => !['_format', '_pretty'].includes(k));
    if (!entries.length) throw badRequest(`Conditional criteria for ${resourceType} are empty`);
    let ids: string[] | undefined;
    for (const [name, raw] of entries) {
      const alternatives = splitComma(raw);
      const found = new Set<string>();
      for (const value of alternatives) {
        for (const id of await this.matchOne(tx, resourceType, name, value)) found.add(id);
      }
      ids = ids === undefined ? [...found] : ids.filter((id) => found.has(id));
      if (!ids.length) return [];
    }
    return ids ?? [];
  }

  private async matchOne(tx: Pick<Tx, 'query'>, resourceType: string, name: string, value: string): Promise<string[]> {
    if (name === 'identifier') {
      if (!value) throw badRequest(`Conditional criteria: identifier needs a value`);
      return this.tokens.match(tx, resourceType, 'identifier', parseToken(value));
    }
    if (name === '_id') {
      const current = await this.store.readCurrent(resourceType, value, tx);
      return current && !current.deleted ? [value] : [];
    }
    throw badRequest(`Conditional criteria may use identifier and _id; "${name}" is not supported (${resourceType}?${name}=...)`);
  }
}

/** Splits on commas that are not escaped (`\,`). */
function splitComma(raw: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '\\' && i + 1 < raw.length) {
      cur += raw[i] + raw[i + 1];
      i++;
    } else if (raw[i] === ',') {
      parts.push(cur);
      cur = '';
    } else cur += raw[i];
  }
  parts.push(cur);
  return parts;
}
