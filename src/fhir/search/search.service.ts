import { Inject, Injectable } from '@nestjs/common';
import type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../core/tokens';
import { DatabaseService, type Tx } from '../../database/database.service';
import { and, join, or, raw, sql, type Sql } from '../../database/sql-fragment';
import { fhirResourceTypes, isResourceType, patientCompartmentPaths } from '../definitions/fhir-definitions';
import { badRequest, forbidden } from '../operation-outcome';
import { ResourceStore, type StoredVersion } from '../store/resource-store.repository';
import { clauseCondition, UnknownParameterError, type ConditionContext, type RowRef } from './search-conditions';
import { searchParam } from './search-parameters';
import { SearchIndexWriter } from './search-index.writer';
import { parseSearchRequest, truncate, type IncludeSpec, type SearchRequest } from './search-request';
import { keysetCondition, orderBy, sortKeys, type SortKey } from './search-sort';
import { shapeResource } from './result-shape';

export interface SearchInput {
  /** The type searched (type level), or undefined at system level (`_type` or every readable type). */
  resourceType?: string;
  params: Array<[string, string]>;
  /** `Prefer: handling=strict`: unknown parameters are an error instead of being ignored. */
  strict: boolean;
  /** A patient-context token's patient. */
  compartment?: string;
  /** The types the caller may search (system level) and read (includes). */
  canRead: (type: string) => boolean;
  /** Types left out of system-level searches unless `_type` names them. */
  hiddenTypes: string[];
  base: string;
  /** Run inside this transaction (a GET entry of a bundle sees the writes before it). */
  tx?: Pick<Tx, 'query'>;
}

interface MatchRow {
  resource_type: string;
  id: string;
  [k: `t${number}`]: string | null;
}

const ROW: RowRef = { type: sql`r.resource_type`, id: sql`r.id`, lastUpdated: sql`r.last_updated`, patientId: sql`r.patient_id` };
const MAX_INCLUDED = 1000;

/**
 * FHIR search over the search index: builds one SQL query from the clauses, pages it by keyset
 * (cursors carry the last row's sort values, so pages neither skip nor repeat rows while data
 * changes), then adds _include/_revinclude and shapes the Bundle.
 */
@Injectable()
export class SearchService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: DatabaseService,
    private readonly store: ResourceStore,
    private readonly index: SearchIndexWriter,
  ) {}

  async search(input: SearchInput): Promise<Bundle> {
    const req = parseSearchRequest(input.params, { defaultCount: this.config.searchDefaultCount, maxCount: this.config.searchMaxCount });
    const types = this.typesOf(input, req);
    const ctx = this.context(input.base, input.compartment, input.canRead);
    const ignored: Array<{ name: string; reason: string }> = [];
    const where = this.conditions(types, req, ctx, input.strict, ignored);
    for (const spec of [...req.include, ...req.revinclude]) this.checkInclude(spec);

    const keys = sortKeys(types.length === 1 ? types[0] : undefined, req.sort);
    const cursor = req.cursor ? decodeCursor(req.cursor, keys) : undefined;
    const count = req.summary === 'count' ? 0 : req.count;
    const candidates = this.candidates(types, input.compartment);
    const selectKeys = join(
      keys.map((k, i) => sql`${k.expr} AS ${raw(`k${i}`)}`),
      ', ',
    );
    const keyText = keys.map((_, i) => `k${i}::text AS t${i}`).join(', ');
    const backwards = cursor?.direction === 'previous';
    const wantTotal = req.summary === 'count' ? 'accurate' : (req.total ?? (req.cursor ? 'none' : 'accurate'));
    // On the first page the total comes with the rows (the sort reads every match anyway).
    const totalInline = wantTotal !== 'none' && !cursor && count > 0;
    const rows =
      count === 0
        ? []
        : await this.query<MatchRow & { total?: string }>(sql`
      SELECT resource_type, id, ${raw(keyText)}${raw(totalInline ? ', count(*) OVER () AS total' : '')} FROM (
        SELECT r.resource_type, r.id, ${selectKeys} FROM ${candidates} r WHERE ${where}
      ) s WHERE ${cursor ? keysetCondition(keys, cursor.values, backwards) : sql`true`}
      ORDER BY ${orderBy(keys, backwards)} LIMIT ${count + 1}`, input.tx);
    const more = rows.length > count;
    const page = rows.slice(0, count);
    if (backwards) page.reverse();
    const hasNext = backwards ? !!cursor : more;
    const hasPrevious = backwards ? more : !!cursor;

    let total: number | undefined;
    if (wantTotal !== 'none') {
      if (totalInline) total = rows.length ? Number(rows[0].total) : 0;
      else {
        const [c] = await this.query<{ n: string }>(sql`SELECT count(*) AS n FROM ${candidates} r WHERE ${where}`, input.tx);
        total = Number(c.n);
      }
    }

    const found = await this.store.readCurrentMany(
      page.map((r) => ({ resourceType: r.resource_type, id: r.id })),
      input.tx,
    );
    const matches = page.map((r) => found.get(`${r.resource_type}/${r.id}`)).filter((v): v is StoredVersion => !!v?.json && !v.deleted);
    const included = await this.includes(req, matches, input);

    const entry: BundleEntry[] = [
      ...matches.map((v) => this.entry(input.base, v, 'match', req)),
      ...included.map((v) => this.entry(input.base, v, 'include', req)),
    ];
    if (ignored.length) {
      const oo: OperationOutcome = {
        resourceType: 'OperationOutcome',
        issue: ignored.map((m) => ({ severity: 'warning', code: 'not-supported', diagnostics: `Ignored: ${truncate(m.name)}: ${m.reason}` })),
      };
      entry.push({ resource: oo, search: { mode: 'outcome' } });
    }
    const link = this.links(input, req, keys, page, hasNext, hasPrevious, ignored);
    return { resourceType: 'Bundle', type: 'searchset', ...(total !== undefined ? { total } : {}), link, entry };
  }

  /**
   * The ids of current resources of `resourceType` matching conditional criteria (a query string),
   * inside the caller's transaction. Unknown parameters are refused, never ignored.
   */
  async matchIds(tx: Pick<Tx, 'query'>, resourceType: string, criteria: string, limit = 1000): Promise<string[]> {
    const params = [...new URLSearchParams(criteria).entries()].filter(([k]) => !['_format', '_pretty'].includes(k));
    if (!params.length) throw badRequest(`Conditional criteria for ${resourceType} are empty`);
    const req = parseSearchRequest(params, { defaultCount: limit, maxCount: limit });
    const ctx = this.context('', undefined, () => true);
    const where = this.conditions([resourceType], req, ctx, true, []);
    const rows = await this.query<{ id: string }>(sql`SELECT r.id FROM ${this.candidates([resourceType])} r WHERE ${where} ORDER BY r.id LIMIT ${limit}`, tx);
    return rows.map((r) => r.id);
  }

  private context(base: string, compartment: string | undefined, canSearch: (type: string) => boolean): ConditionContext {
    return {
      base,
      compartment,
      canSearch,
      now: new Date(),
      tokenHash: (s, v) => this.index.tokenHash(s, v),
      stringHash: (n) => this.index.stringHash(n),
    };
  }

  private typesOf(input: SearchInput, req: SearchRequest): string[] {
    if (input.resourceType) {
      if (req.types) throw badRequest('_type is for searches at system level (GET [base]?_type=...)');
      return [input.resourceType];
    }
    if (req.types) {
      for (const t of req.types) {
        if (!isResourceType(t)) throw badRequest(`_type names an unknown resource type "${truncate(t)}"`);
        if (!input.canRead(t)) throw forbidden(`_type: this token may not search ${t}`);
      }
      return [...new Set(req.types)];
    }
    return [...fhirResourceTypes()].filter((t) => input.canRead(t) && !input.hiddenTypes.includes(t));
  }

  /** The AND of every clause; at system level each clause applies to the types that define it. */
  private conditions(types: string[], req: SearchRequest, ctx: ConditionContext, strict: boolean, ignored: Array<{ name: string; reason: string }>): Sql {
    const parts: Sql[] = [];
    for (const clause of req.clauses) {
      const perType: Sql[] = [];
      let unknown: UnknownParameterError | undefined;
      for (const t of types) {
        try {
          // The type as a constant, not r.resource_type: index lookups then need no correlation on it.
          const cond = clauseCondition(t, { ...ROW, type: sql`${t}::text` }, clause.name, clause.value, ctx);
          perType.push(types.length === 1 ? cond : sql`(r.resource_type = ${t} AND ${cond})`);
        } catch (e) {
          if (!(e instanceof UnknownParameterError)) throw e;
          unknown = e;
        }
      }
      if (!perType.length && unknown) {
        if (strict) throw badRequest(`${unknown.message} (Prefer: handling=strict)`);
        ignored.push({ name: clause.name, reason: unknown.message });
        continue;
      }
      parts.push(types.length === 1 ? perType[0] : or(perType));
    }
    return and(parts);
  }

  private checkInclude(spec: IncludeSpec): void {
    if (spec.sourceType !== '*' && !isResourceType(spec.sourceType)) throw badRequest(`_include/_revinclude: "${truncate(spec.sourceType)}" is not a resource type`);
    if (spec.targetType && !isResourceType(spec.targetType)) throw badRequest(`_include/_revinclude: "${truncate(spec.targetType)}" is not a resource type`);
    if (spec.code !== '*' && spec.sourceType !== '*') {
      const def = searchParam(spec.sourceType, spec.code);
      if (!def) throw badRequest(`_include/_revinclude: ${spec.sourceType} has no search parameter "${truncate(spec.code)}"`);
      if (def.type !== 'reference') throw badRequest(`_include/_revinclude: ${spec.sourceType}:${spec.code} is a ${def.type} parameter, not a reference`);
    }
  }

  /**
   * The current, non-deleted rows of the types searched, confined to a patient's compartment (and
   * shared resources) when asked. A type outside the Patient compartment lives only in the shared
   * table and a Patient only in the patient table, so their queries read one table.
   */
  private candidates(types: string[], compartment?: string): Sql {
    const shared = types.filter((t) => t !== 'Patient');
    const owned = types.filter((t) => t === 'Patient' || patientCompartmentPaths(t).length > 0);
    const parts: Sql[] = [];
    if (shared.length) {
      parts.push(sql`SELECT NULL::text AS patient_id, resource_type, id, last_updated FROM fhir_resource WHERE resource_type = ANY(${shared}::text[]) AND NOT deleted`);
    }
    if (owned.length) {
      const confine = compartment !== undefined ? sql` AND patient_id = ${compartment}` : sql``;
      parts.push(sql`SELECT patient_id::text, resource_type, id, last_updated FROM fhir_patient_resource WHERE resource_type = ANY(${owned}::text[]) AND NOT deleted${confine}`);
    }
    return sql`(${join(parts, ' UNION ALL ')})`;
  }

  /** _include and _revinclude (with :iterate, up to 4 rounds), limited to what the caller may see. */
  private async includes(req: SearchRequest, matches: StoredVersion[], input: SearchInput): Promise<StoredVersion[]> {
    if (!req.include.length && !req.revinclude.length) return [];
    const seen = new Set(matches.map((m) => `${m.resourceType}/${m.id}`));
    const out: StoredVersion[] = [];
    let frontier = matches;
    for (let round = 0; round < 5 && frontier.length && out.length < MAX_INCLUDED; round++) {
      const specsInc = req.include.filter((s) => round === 0 || s.iterate);
      const specsRev = req.revinclude.filter((s) => round === 0 || s.iterate);
      if (!specsInc.length && !specsRev.length) break;
      const wanted: Array<{ resourceType: string; id: string }> = [];
      for (const s of specsInc) wanted.push(...(await this.forwardRefs(s, frontier, input)));
      for (const s of specsRev) wanted.push(...(await this.reverseRefs(s, frontier, input)));
      const fresh = wanted.filter((w) => !seen.has(`${w.resourceType}/${w.id}`) && input.canRead(w.resourceType));
      if (!fresh.length) break;
      const found = await this.store.readCurrentMany(fresh.slice(0, MAX_INCLUDED - out.length), input.tx);
      const next: StoredVersion[] = [];
      for (const v of found.values()) {
        const key = `${v.resourceType}/${v.id}`;
        if (seen.has(key) || v.deleted || !v.json) continue;
        if (input.compartment !== undefined && v.patientId !== null && v.patientId !== input.compartment) continue;
        seen.add(key);
        next.push(v);
      }
      out.push(...next);
      frontier = next;
    }
    return out;
  }

  private async forwardRefs(spec: IncludeSpec, from: StoredVersion[], input: SearchInput): Promise<Array<{ resourceType: string; id: string }>> {
    const { compartment } = input;
    const sources = from.filter((v) => spec.sourceType === '*' || v.resourceType === spec.sourceType);
    if (!sources.length) return [];
    const rows = await this.query<{ target_type: string; target_id: string }>(sql`
      SELECT DISTINCT target_type, target_id FROM search_reference
      WHERE (resource_type, resource_id) IN (SELECT * FROM unnest(${sources.map((s) => s.resourceType)}::text[], ${sources.map((s) => s.id)}::text[]))
        AND target_type IS NOT NULL
        ${spec.code !== '*' ? sql`AND code = ${spec.code}` : sql``}
        ${spec.targetType ? sql`AND target_type = ${spec.targetType}` : sql``}
        ${compartment !== undefined ? sql`AND patient_id IN ('', ${compartment})` : sql``}
      LIMIT ${MAX_INCLUDED}`, input.tx);
    return rows.map((r) => ({ resourceType: r.target_type, id: r.target_id }));
  }

  private async reverseRefs(spec: IncludeSpec, to: StoredVersion[], input: SearchInput): Promise<Array<{ resourceType: string; id: string }>> {
    const { compartment } = input;
    const targets = spec.targetType ? to.filter((v) => v.resourceType === spec.targetType) : to;
    if (!targets.length) return [];
    const rows = await this.query<{ resource_type: string; resource_id: string }>(sql`
      SELECT DISTINCT resource_type, resource_id FROM search_reference
      WHERE (target_id, target_type) IN (SELECT * FROM unnest(${targets.map((t) => t.id)}::text[], ${targets.map((t) => t.resourceType)}::text[]))
        ${spec.sourceType !== '*' ? sql`AND resource_type = ${spec.sourceType}` : sql``}
        ${spec.code !== '*' ? sql`AND code = ${spec.code}` : sql``}
        ${compartment !== undefined ? sql`AND patient_id IN ('', ${compartment})` : sql``}
      LIMIT ${MAX_INCLUDED}`, input.tx);
    return rows.map((r) => ({ resourceType: r.resource_type, id: r.resource_id }));
  }

  private entry(base: string, v: StoredVersion, mode: 'match' | 'include', req: SearchRequest): BundleEntry {
    let resource = JSON.parse(v.json as string) as Resource;
    if (mode === 'match') resource = shapeResource(resource, req.summary, req.elements);
    return { fullUrl: `${base}/${v.resourceType}/${v.id}`, resource, search: { mode } };
  }

  private links(input: SearchInput, req: SearchRequest, keys: SortKey[], page: MatchRow[], hasNext: boolean, hasPrevious: boolean, ignored: Array<{ name: string }>): BundleLink[] {
    const ignoredNames = new Set(ignored.map((m) => m.name));
    const kept = input.params.filter(([k]) => k !== '_cursor' && !ignoredNames.has(k.trim()));
    const url = (cursor?: string) => {
      const u = new URL(`${input.base}${input.resourceType ? `/${input.resourceType}` : ''}`);
      for (const [k, v] of kept) u.searchParams.append(k, v);
      if (!kept.some(([k]) => k === '_count')) u.searchParams.set('_count', String(req.count));
      if (cursor) u.searchParams.set('_cursor', cursor);
      return u.toString();
    };
    const values = (r: MatchRow) => keys.map((_, i) => r[`t${i}`] ?? null);
    const links: BundleLink[] = [{ relation: 'self', url: url(req.cursor) }, { relation: 'first', url: url() }];
    if (hasNext && page.length) links.push({ relation: 'next', url: url(encodeCursor('next', values(page[page.length - 1]))) });
    if (hasPrevious && page.length) links.push({ relation: 'previous', url: url(encodeCursor('previous', values(page[0]))) });
    return links;
  }

  private async query<T>(q: Sql, tx?: Pick<Tx, 'query'>): Promise<T[]> {
    return (tx ?? this.db).query<T>(q.text, q.params);
  }
}


/** A page cursor: the direction and the sort values of the row it starts after (or before). */
function encodeCursor(direction: 'next' | 'previous', values: Array<string | null>): string {
  return Buffer.from(JSON.stringify({ d: direction === 'next' ? 'n' : 'p', v: values })).toString('base64url');
}

function decodeCursor(text: string, keys: SortKey[]): { direction: 'next' | 'previous'; values: Array<string | null> } {
  // Cursors come back from clients: every value must fit its key's type before it reaches SQL.
  const fits = (v: unknown, k: SortKey) =>
    v === null ||
    (typeof v === 'string' &&
      v.length <= 600 &&
      !v.includes('\u0000') &&
      (k.cast === 'text' ||
        (k.cast === 'numeric' && /^(-?\d+(\.\d+)?(e[+-]?\d+)?|-?Infinity|NaN)$/i.test(v)) ||
        (k.cast === 'timestamptz' && (/^-?infinity$/.test(v) || (/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}(:?\d{2})?|Z)?$/.test(v) && !Number.isNaN(Date.parse(v.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00'))))))));
  try {
    const parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { d?: unknown; v?: unknown };
    const values = parsed.v;
    if ((parsed.d === 'n' || parsed.d === 'p') && Array.isArray(values) && values.length === keys.length && values.every((x, i) => fits(x, keys[i]))) {
      return { direction: parsed.d === 'n' ? 'next' : 'previous', values: values as Array<string | null> };
    }
  } catch {
    /* fall through */
  }
  throw badRequest('_cursor is not a page cursor of this search (follow the next/previous links as given)');
}
