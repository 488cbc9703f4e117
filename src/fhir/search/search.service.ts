import { Inject, Injectable } from '@nestjs/common';
import type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../core/tokens';
import { KeyRing } from '../../crypto/key-ring';
import { DatabaseService, type Tx } from '../../database/database.service';
import { and, join, or, raw, sql, Sql } from '../../database/sql-fragment';
import { fhirResourceTypes, isResourceType, patientCompartmentParams } from '../definitions/fhir-definitions';
import { patientRecordType } from '../definitions/patient-references';
import { badRequest, forbidden, OperationOutcomeError } from '../operation-outcome';
import { ResourceStore, type StoredVersion } from '../store/resource-store.repository';
import { timedOut, tooCostly } from './search-timeout';
import { clauseCondition, ImpossibleTargetError, sameValueCondition, UnknownParameterError, type ConditionContext, type RowRef } from './search-conditions';
import { indexedParamsOf, searchParam } from './search-parameters';
import { versionedReferences } from './index-extractor';
import { isSecretParam } from './search-secrets';
import { isEncryptedType } from '../store/sensitivity';
import { SearchIndexWriter } from './search-index.writer';
import { parseSearchRequest, truncate, type IncludeSpec, type SearchRequest } from './search-request';
import { keysetCondition, orderBy, sortKeys, type SortKey } from './search-sort';
import { shapeResource } from './result-shape';
import { nameLit, namesLit } from './sql-names';
import { bundleJson, bundleObject, type RawBundle, type RawEntry } from './bundle-json';
import { storedJsonSql } from '../store/stored-json';
import { assertIntegrity } from '../store/stored-integrity';
import { sharedArmVisible, sharedWithPatients } from './shared-visibility';
import { PACKED_INDEX_TYPES, referenceRows } from './index-tables';
import { parseFhirJson } from '../json/fhir-json';

export interface SearchInput {
  /** The type searched (type level), or undefined at system level (`_type` or every readable type). */
  resourceType?: string;
  params: Array<[string, string]>;
  /** `Prefer: handling=strict`: unknown parameters are an error instead of being ignored. */
  strict: boolean;
  /** A patient-context token's patient. */
  compartment?: string;
  /** `Patient/{id}/{type}?...` (compartment search): only the resources of this patient's compartment match. */
  patientCompartment?: string;
  /** The types the caller may search (system level) and read (includes). */
  canRead: (type: string) => boolean;
  /** Types left out of system-level searches unless `_type` names them. */
  hiddenTypes: string[];
  /**
   * Whether the caller may see a resource found (its content, for a confined token's shared
   * resources: sharedVisibleTo in fhir/definitions/patient-references.ts). The SQL already leaves out what the index shows it may not
   * see; this also catches references the index does not hold (extensions, contained resources).
   */
  visible?: (v: StoredVersion) => boolean;
  base: string;
  /** Run inside this transaction (a GET entry of a bundle sees the writes before it). */
  tx?: Pick<Tx, 'query'>;
}

interface MatchRow {
  resource_type: string;
  id: string;
  [k: `t${number}`]: string | null;
}

/** A resource row as the search statements return it (the page's rows and included ones). */
interface ResourceRow {
  resource_type: string;
  id: string;
  version_id: number | null;
  last_updated: Date | null;
  deleted: boolean | null;
  patient_id: string | null;
  json: string | null;
  /** Whether json came from ciphertext (for the integrity check). */
  sealed: boolean | null;
}

/** The stored version's columns of a resource table aliased `f`, decrypted with `keys`. */
/** A condition leaving out the (type, id) pairs of resources the Bundle already holds, given the SQL of the columns to test. */
type Unseen = (columns: string) => Sql;

/** Unseen for the keys (`Type/id`) of the Bundle so far. */
function notSeen(seen: Set<string>): Unseen {
  const types: string[] = [];
  const ids: string[] = [];
  for (const key of seen) {
    const slash = key.indexOf('/');
    types.push(key.slice(0, slash));
    ids.push(key.slice(slash + 1));
  }
  // One key (one resource and its _revinclude): a row comparison, not an array, so that the
  // statement's generic plan is costed as its custom ones and PostgreSQL keeps it (idCondition says why).
  if (types.length === 1) return (columns) => sql`AND (${raw(columns)}) <> (${types[0]}::text, ${ids[0]}::text)`;
  return (columns) => sql`AND (${raw(columns)}) NOT IN (SELECT * FROM unnest(${types}::text[], ${ids}::text[]))`;
}

/**
 * The current rows of the resources the CTE `refs` (t, i) names, from both resource tables; `lead`:
 * columns to put after the id (NULLs, where the rows join the page's in one result).
 */
const refRowsSql = (keys: string, lead: Sql = sql``): Sql => sql`
      SELECT f.resource_type, f.id, ${lead}NULL::text AS patient_id, ${versionColumns(keys)} FROM fhir_resource f JOIN refs ON f.resource_type = refs.t AND f.id = refs.i
      UNION ALL
      SELECT f.resource_type, f.id, ${lead}f.patient_id::text, ${versionColumns(keys)} FROM fhir_patient_resource f JOIN refs ON f.resource_type = refs.t AND f.id = refs.i`;

const versionColumns = (keys: string): Sql => new Sql(`f.version_id, f.last_updated, f.deleted, ${storedJsonSql('f')} AS json, f.content_enc IS NOT NULL AS sealed`, [keys]);

let canonicalTypes: string[] | undefined;

/** The resource types a canonical url names: those with a `url` search parameter (the conformance and knowledge resources). */
function canonicalTargetTypes(): string[] {
  canonicalTypes ??= [...fhirResourceTypes()].filter((t) => searchParam(t, 'url')?.type === 'uri').sort();
  return canonicalTypes;
}

/**
 * Compartment search (`Patient/{id}/{type}`): the resources in that Patient's compartment as the R4
 * CompartmentDefinition defines it: the Patient itself, and every resource that one of its type's
 * compartment parameters (Observation: subject or performer) refers to the Patient by. A semi-join
 * on the reference index, so PostgreSQL starts from the Patient's index rows.
 */
function compartmentMembership(types: string[], patientId: string): Sql {
  const pairs = types.flatMap((t) => patientCompartmentParams(t).map((code) => sql`(${nameLit(t)}, ${nameLit(code)})`));
  const self = types.includes('Patient') ? sql` UNION ALL SELECT 'Patient'::varchar, ${patientId}::text` : sql``;
  const refers = pairs.length
    ? sql`SELECT cm.resource_type, cm.resource_id::text FROM ${raw(referenceRows(types))} cm
           WHERE cm.target_id = ${patientId} AND cm.target_type = 'Patient' AND (cm.resource_type, cm.code) IN (${join(pairs, ', ')})`
    : sql`SELECT NULL::varchar, NULL::text WHERE false`;
  return sql`(r.resource_type, r.id::text) IN (${refers}${self})`;
}

/** A parameter reported in the Bundle's outcome entry: ignored (and left out of the links), or applied to some types only (`kept`). */
interface SearchNote {
  name: string;
  reason: string;
  kept?: boolean;
}

const ROW: RowRef = { type: sql`r.resource_type`, id: sql`r.id`, lastUpdated: sql`r.last_updated`, patientId: sql`r.patient_id` };

/**
 * FHIR search over the search index: builds one SQL query from the clauses, pages it by keyset
 * (cursors carry the last row's sort values, so pages neither skip nor repeat rows while data
 * changes), then adds _include/_revinclude and shapes the Bundle.
 */
/** Whether resources of the type can be stored in fhir_resource (all but Patients). */
const inSharedTable = (type: string): boolean => type !== 'Patient';
/** Whether resources of the type can be stored in fhir_patient_resource (Patients, the Patient compartment's types, Binaries filed under their securityContext's patient). */
const inPatientTable = patientRecordType;

/** Rows a token criteria reads at most in matchIdsMany: enough to tell one match from several. */
const TOKEN_MATCH_ROWS = 1000;

/** Whose rights conditional criteria are matched with: a client's search scopes and compartment. */
export interface CriteriaAccess {
  /** A patient-context token's patient. */
  compartment?: string;
  /** Whether the client may search a type. */
  canSearch(type: string): boolean;
}

/** Criteria search their type: a client needs search permission on it, as for GET [type]?criteria. */
function requireCriteriaScope(resourceType: string, access: CriteriaAccess | undefined): void {
  if (access && !access.canSearch(resourceType)) throw forbidden(`Conditional criteria search ${resourceType}, which the token may not search`);
}

/** A token criteria `code=system|value`, unescaped and capped as the search side compares them. */
export interface TokenMatch {
  code: string;
  system: string;
  value: string;
}

@Injectable()
export class SearchService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: DatabaseService,
    private readonly index: SearchIndexWriter,
    private readonly keys: KeyRing,
    private readonly store: ResourceStore,
  ) {}

  async search(input: SearchInput): Promise<Bundle> {
    return bundleObject(await this.run(input));
  }

  /** The search's Bundle as JSON text: stored resources served unchanged are not parsed and serialised again. */
  async searchJson(input: SearchInput): Promise<string> {
    return bundleJson(await this.run(input));
  }

  /**
   * Every statement of a search (page, total, includes) runs with SEARCH_TIMEOUT_MS: read-only, on a
   * connection of its own (DatabaseService.boundedRead), or inside the caller's (a bundle entry) with the limit set for the
   * search's statements and put back after. A search over the limit is a 400 too-costly, and its
   * connection is free again at once.
   */
  private async run(input: SearchInput): Promise<RawBundle> {
    const limit = this.config.searchTimeoutMs;
    try {
      if (!input.tx) return await this.db.boundedRead(limit, (tx) => this.runIn({ ...input, tx }));
      if (!limit) return await this.runIn(input);
      const [prev] = await input.tx.query<{ v: string }>(`SELECT current_setting('statement_timeout') AS v, set_config('statement_timeout', ?, true)`, [String(limit)]);
      const out = await this.runIn(input);
      await input.tx.query(`SELECT set_config('statement_timeout', ?, true)`, [prev.v]);
      return out;
    } catch (e) {
      if (timedOut(e)) throw tooCostly(limit);
      throw e;
    }
  }

  private async runIn(input: SearchInput): Promise<RawBundle> {
    const req = parseSearchRequest(input.params, { defaultCount: this.config.searchDefaultCount, maxCount: this.config.searchMaxCount });
    const types = this.typesOf(input, req).filter((t) => input.patientCompartment === undefined || inPatientTable(t));
    if (!types.length) throw badRequest(`${input.resourceType ?? '_type'}: no type searched is in the Patient compartment`);
    const ctx = this.context(input.base, input.compartment, input.canRead);
    const ignored: SearchNote[] = [];
    const clauses = this.conditions(types, req, ctx, input.strict, ignored);
    const where = input.patientCompartment !== undefined ? and([compartmentMembership(types, input.patientCompartment), clauses]) : clauses;
    for (const spec of [...req.include, ...req.revinclude]) this.checkInclude(spec);

    const keys = sortKeys(types.length === 1 ? types[0] : undefined, req.sort);
    const cursor = req.cursor ? decodeCursor(req.cursor, keys) : undefined;
    const count = req.summary === 'count' ? 0 : req.count;
    // The clauses apply to each resource table on its own (not to their UNION ALL): PostgreSQL can
    // then drive each table's rows from the index rows that match (by its (resource_type, id)
    // index) instead of reading every row of the type and hash-joining them.
    const arms = this.candidateArms(types, input.compartment);
    const matching = (cols: Sql) => join(arms.map((arm) => sql`SELECT ${cols} FROM ${arm} r WHERE ${where}`), ' UNION ALL ');
    const selectKeys = join(
      keys.map((k, i) => sql`${k.expr} AS ${raw(`k${i}`)}`),
      ', ',
    );
    const keyCols = keys.map((_, i) => `k${i}`).join(', ');
    const keyText = keys.map((_, i) => `p.k${i}::text AS t${i}`).join(', ');
    const backwards = cursor?.direction === 'previous';
    const wantTotal = req.summary === 'count' ? 'accurate' : (req.total ?? (req.cursor ? 'none' : 'accurate'));
    // On the first page the total comes with the rows (the sort reads every match anyway).
    const totalInline = wantTotal !== 'none' && !cursor && count > 0;
    // One statement: the page (and the row after it, which only tells that there is more), then the
    // page's stored versions by primary key, decrypted where needed. A single _include (the usual
    // one) comes in the same statement, as rows without a page number: one round trip, not two.
    const order = orderBy(keys, backwards);
    const folded = count > 0 && req.include.length === 1 && !req.revinclude.length && input.compartment === undefined && !input.visible ? req.include[0] : undefined;
    const key = this.keys.decryptionKeys();
    const rows =
      count === 0
        ? []
        : await this.query<MatchRow & ResourceRow & { total?: string; n: string | null }>(sql`
      WITH page AS (
        SELECT resource_type, id, patient_id, ${raw(keyCols)}${raw(totalInline ? ', count(*) OVER () AS total' : '')} FROM (
          ${matching(sql`r.resource_type, r.id, r.patient_id, ${selectKeys}`)}
        ) s WHERE ${cursor ? keysetCondition(keys, cursor.values, backwards) : sql`true`}
        ORDER BY ${order} LIMIT ${count + 1}
      ), numbered AS (
        SELECT *, row_number() OVER (ORDER BY ${order}) AS n FROM page
      )${folded ? sql`, refs AS (${this.forwardRefsSql(folded, sql`(r.resource_type, r.resource_id) IN (SELECT resource_type, id FROM numbered WHERE n <= ${count}${folded.sourceType !== '*' ? sql` AND resource_type = ${folded.sourceType}` : sql``})`, undefined, this.config.searchMaxIncluded + 1, (cols) => sql`AND (${raw(cols)}) NOT IN (SELECT resource_type, id FROM numbered WHERE n <= ${count})`, types)})` : sql``}
      SELECT p.resource_type, p.id, p.n, ${raw(keyText)}${raw(totalInline ? ', p.total' : '')}, p.patient_id,
        coalesce(f.version_id, g.version_id) AS version_id, coalesce(f.last_updated, g.last_updated) AS last_updated,
        coalesce(f.deleted, g.deleted) AS deleted,
        CASE WHEN p.n > ${count} THEN NULL
             WHEN coalesce(f.content_enc, g.content_enc) IS NOT NULL THEN fhir_decrypt(coalesce(f.content_enc, g.content_enc), coalesce(f.key_id, g.key_id), ${key}::text[])
             ELSE coalesce(f.content, g.content)::text END AS json,
        coalesce(f.content_enc, g.content_enc) IS NOT NULL AS sealed
      FROM numbered p
      LEFT JOIN fhir_resource f ON p.patient_id IS NULL AND f.resource_type = p.resource_type AND f.id = p.id
      LEFT JOIN fhir_patient_resource g ON p.patient_id IS NOT NULL AND g.patient_id = p.patient_id AND g.resource_type = p.resource_type AND g.id = p.id
      ${folded ? sql`UNION ALL ${refRowsSql(key, sql`${raw(`NULL::bigint, ${keys.map(() => 'NULL::text, ').join('')}${totalInline ? 'NULL::bigint, ' : ''}`)}`)}` : sql``}
      ORDER BY n`, input.tx);
    const pageRows = folded ? rows.filter((r) => r.n !== null) : rows;
    const more = pageRows.length > count;
    const page = pageRows.slice(0, count);
    if (backwards) page.reverse();
    const hasNext = backwards ? !!cursor : more;
    const hasPrevious = backwards ? more : !!cursor;

    let total: number | undefined;
    if (wantTotal !== 'none') {
      if (totalInline) total = pageRows.length ? Number(pageRows[0].total) : 0;
      else {
        const [c] = await this.query<{ n: string }>(sql`SELECT count(*) AS n FROM (${matching(sql`1 AS one`)}) c`, input.tx);
        total = Number(c.n);
      }
    }

    const matches = page.map(toStored).filter((v): v is StoredVersion => !!v?.json && !v.deleted && (input.visible?.(v) ?? true));
    const prefetched = folded ? { spec: folded, found: rows.filter((r) => r.n === null).map(toStored) } : undefined;
    const { included, cut } = await this.includes(req, matches, input, prefetched);

    const entry: Array<BundleEntry | RawEntry> = [
      ...matches.map((v) => this.entry(input.base, v, 'match', req)),
      ...included.map((v) => this.entry(input.base, v, 'include', req)),
    ];
    if (ignored.length || cut) {
      const oo: OperationOutcome = {
        resourceType: 'OperationOutcome',
        issue: ignored.map((m) => ({ severity: 'warning', code: 'not-supported', diagnostics: `${m.kept ? '' : 'Ignored: '}${truncate(m.name)}: ${m.reason}` })),
      };
      if (cut) {
        // Never silent: the page's includes stop at SEARCH_MAX_INCLUDED, and the client is told how to get the rest.
        oo.issue.push({
          severity: 'warning',
          code: 'too-costly',
          diagnostics: `Only the first ${this.config.searchMaxIncluded} included resources are in this page; more match the _include/_revinclude. Ask for a smaller _count, or search the included type directly (e.g. Observation?subject=Patient/x instead of _revinclude=Observation:subject).`,
        });
      }
      entry.push({ resource: oo, search: { mode: 'outcome' } });
    }
    const link = this.links(input, req, keys, page, hasNext, hasPrevious, ignored);
    return { resourceType: 'Bundle', type: 'searchset', ...(total !== undefined ? { total } : {}), link, entry };
  }

  /**
   * The ids of current resources of `resourceType` matching conditional criteria (a query string),
   * inside the caller's transaction. Unknown parameters are refused, never ignored. With `access`
   * (a client's conditional interaction or conditional reference), the criteria are held to the
   * client's search scopes exactly as its search would be: the type itself and every type a chain
   * or _has looks into need search permission (403), and a confined token matches in its
   * compartment only; without it (the server's own lookups) they run with the server's rights.
   */
  async matchIds(tx: Pick<Tx, 'query'>, resourceType: string, criteria: string, limit = 1000, access?: CriteriaAccess): Promise<string[]> {
    const params = [...new URLSearchParams(criteria).entries()].filter(([k]) => !['_format', '_pretty'].includes(k));
    if (!params.length) throw badRequest(`Conditional criteria for ${resourceType} are empty`);
    requireCriteriaScope(resourceType, access);
    const req = parseSearchRequest(params, { defaultCount: limit, maxCount: limit });
    const ctx = this.context('', access?.compartment, access?.canSearch ?? (() => true));
    const where = this.conditions([resourceType], req, ctx, true, []);
    const rows = await this.query<{ id: string }>(sql`SELECT r.id FROM ${this.candidates([resourceType], access?.compartment)} r WHERE ${where} ORDER BY r.id LIMIT ${limit}`, tx);
    return rows.map((r) => r.id);
  }

  /**
   * Several conditional criteria in one round trip (a batch chunk): for each, the ids of up to
   * `limit` matches, with the same conditions as matchIds.
   */
  async matchIdsMany(tx: Pick<Tx, 'query'>, items: Array<{ resourceType: string; criteria: string; token?: TokenMatch }>, limit: number, access?: CriteriaAccess): Promise<string[][]> {
    const out: string[][] = items.map(() => []);
    for (const item of items) requireCriteriaScope(item.resourceType, access);
    // Criteria that are one token `code=system|value` (the caller parsed them: batch-criteria's
    // tokenCriteria) are matched together against the token index in one statement of fixed text;
    // secret fields (matched by their keyed hash) and any other criteria go through the general path.
    const tokens =
      access?.compartment !== undefined
        ? [] // the token statement knows no compartment: a confined caller's criteria take the general path
        : items.flatMap((item, i) =>
            // Secret fields match by their keyed hash, packed types' tokens are not in search_token: both take the general path.
            item.token && !(isEncryptedType(item.resourceType) && isSecretParam(item.resourceType, item.token.code)) && !PACKED_INDEX_TYPES.has(item.resourceType) ? [i] : [],
          );
    if (tokens.length) {
      // The inner ORDER BY is the order of search_token_value (type, code, value): it steers the
      // planner to look the value up there even on tables without statistics yet (a first import),
      // where it would otherwise take the smaller search_token_res and walk every row of the type.
      // value is COLLATE "C" in the table: the criteria's value compares in that collation too.
      const rows = await this.query<{ i: number; ids: string[] }>(
        sql`SELECT w.i, m.ids FROM unnest(${tokens}::int[], ${tokens.map((i) => items[i].resourceType)}::text[], ${tokens.map((i) => items[i].token?.code)}::text[],
               ${tokens.map((i) => items[i].token?.system)}::text[], ${tokens.map((i) => items[i].token?.value)}::text[],
               ${tokens.map((i) => inSharedTable(items[i].resourceType))}::boolean[],
               ${tokens.map((i) => inPatientTable(items[i].resourceType))}::boolean[])
               AS w(i, resource_type, code, system, value, shared, owned)
             CROSS JOIN LATERAL (
               SELECT array_agg(DISTINCT t.id ORDER BY t.id) AS ids FROM (
                 SELECT s.resource_id::text AS id FROM search_token s
                 WHERE s.resource_type = w.resource_type AND s.code = w.code AND s.value = w.value COLLATE "C" AND s.system = w.system
                   AND ((w.shared AND EXISTS (SELECT 1 FROM fhir_resource c WHERE c.resource_type = w.resource_type AND c.id = s.resource_id AND NOT c.deleted))
                     OR (w.owned AND EXISTS (SELECT 1 FROM fhir_patient_resource c WHERE c.resource_type = w.resource_type AND c.id = s.resource_id AND NOT c.deleted)))
                 ORDER BY s.resource_type, s.code, s.value LIMIT ${TOKEN_MATCH_ROWS}) t) m`,
        tx,
      );
      for (const r of rows) out[r.i].push(...(r.ids ?? []).slice(0, limit));
    }
    const general = new Set(items.keys());
    for (const i of tokens) general.delete(i);
    const ctx = this.context('', access?.compartment, access?.canSearch ?? (() => true));
    const parts = [...general].map((i) => {
      const { resourceType, criteria } = items[i];
      const params = [...new URLSearchParams(criteria).entries()].filter(([k]) => !['_format', '_pretty'].includes(k));
      if (!params.length) throw badRequest(`Conditional criteria for ${resourceType} are empty`);
      const req = parseSearchRequest(params, { defaultCount: limit, maxCount: limit });
      const where = this.conditions([resourceType], req, ctx, true, []);
      return sql`(SELECT ${i}::int AS i, r.id FROM ${this.candidates([resourceType], access?.compartment)} r WHERE ${where} ORDER BY r.id LIMIT ${limit})`;
    });
    if (!parts.length) return out;
    for (const r of await this.query<{ i: number; id: string }>(join(parts, ' UNION ALL '), tx)) out[r.i].push(r.id);
    return out;
  }

  private context(base: string, compartment: string | undefined, canSearch: (type: string) => boolean): ConditionContext {
    return {
      base,
      compartment,
      canSearch,
      now: new Date(),
      aliases: { n: 0 },
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
  private conditions(types: string[], req: SearchRequest, ctx: ConditionContext, strict: boolean, ignored: SearchNote[]): Sql {
    const parts: Sql[] = [];
    const merged = new Set<string>();
    for (const clause of req.clauses) {
      if (merged.has(clause.name)) continue;
      if (types.length === 1) {
        const same = req.clauses.filter((c) => c.name === clause.name);
        const cond = sameValueCondition(types[0], { ...ROW, type: sql`${nameLit(types[0])}::text` }, clause.name, same.map((c) => c.value), ctx);
        if (cond) {
          merged.add(clause.name);
          parts.push(cond);
          continue;
        }
      }
      const perType: Sql[] = [];
      let unknown: UnknownParameterError | undefined;
      let impossible: ImpossibleTargetError | undefined;
      const lacking: string[] = [];
      for (const t of types) {
        try {
          // The type as a constant, not r.resource_type: index lookups then need no correlation on it.
          const cond = clauseCondition(t, { ...ROW, type: sql`${nameLit(t)}::text` }, clause.name, clause.value, ctx);
          perType.push(types.length === 1 ? cond : sql`(r.resource_type = ${nameLit(t)} AND ${cond})`);
        } catch (e) {
          // At system level a reference to a type this one's parameter cannot hold only rules this type out.
          if (e instanceof ImpossibleTargetError && types.length > 1) {
            impossible = e;
            continue;
          }
          if (!(e instanceof UnknownParameterError)) throw e;
          unknown = e;
          lacking.push(t);
        }
      }
      if (!perType.length && impossible) throw impossible;
      if (!perType.length && unknown) {
        if (strict) throw badRequest(`${unknown.message} (Prefer: handling=strict)`);
        ignored.push({ name: clause.name, reason: unknown.message });
        continue;
      }
      if (lacking.length) {
        // search.html#all: at system level every parameter SHALL be common to the types searched. The
        // types without it are left out: an error under strict handling, said in the Bundle otherwise.
        const named = `${lacking.slice(0, 5).join(', ')}${lacking.length > 5 ? ` and ${lacking.length - 5} more` : ''}`;
        const reason = `not defined for ${lacking.length} of the ${types.length} types searched (${named})`;
        if (strict) throw badRequest(`${truncate(clause.name)} is ${reason}; at system level a parameter must be common to every type searched (Prefer: handling=strict)`);
        ignored.push({ name: clause.name, reason: `${reason}: only the types that define it were searched`, kept: true });
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
    return sql`(${join(this.candidateArms(types, compartment).map((arm) => sql`SELECT * FROM ${arm} c`), ' UNION ALL ')})`;
  }

  /** The candidate rows of each resource table, as subqueries (patient_id, resource_type, id, last_updated). */
  private candidateArms(types: string[], compartment?: string): Sql[] {
    // A confined token: no shared row of a type hidden from patients or of a patient record type
    // (whose patient is unknown), nor one the index shows names another patient.
    const shared = types.filter((t) => inSharedTable(t) && (compartment === undefined || sharedWithPatients(t)));
    const owned = types.filter(inPatientTable);
    const arms: Sql[] = [];
    if (shared.length) {
      const visible = compartment !== undefined ? sql` AND ${sharedArmVisible(shared, compartment)}` : sql``;
      arms.push(sql`(SELECT NULL::text AS patient_id, resource_type, id, last_updated FROM fhir_resource WHERE resource_type = ANY(${namesLit(shared)}) AND NOT deleted${visible})`);
    }
    if (owned.length) {
      const confine = compartment !== undefined ? sql` AND patient_id = ${compartment}` : sql``;
      arms.push(sql`(SELECT patient_id::text AS patient_id, resource_type, id, last_updated FROM fhir_patient_resource WHERE resource_type = ANY(${namesLit(owned)}) AND NOT deleted${confine})`);
    }
    if (!arms.length) arms.push(sql`(SELECT NULL::text AS patient_id, NULL::varchar AS resource_type, NULL::text AS id, NULL::timestamptz AS last_updated WHERE false)`);
    return arms;
  }

  /**
   * _include and _revinclude (with :iterate, up to 4 rounds), limited to what the caller may see and
   * to SEARCH_MAX_INCLUDED resources (`cut` when more would have come).
   */
  private async includes(
    req: SearchRequest,
    matches: StoredVersion[],
    input: SearchInput,
    prefetched?: { spec: IncludeSpec; found: StoredVersion[] },
  ): Promise<{ included: StoredVersion[]; cut: boolean }> {
    if (!req.include.length && !req.revinclude.length) return { included: [], cut: false };
    const max = this.config.searchMaxIncluded;
    const seen = new Set(matches.map((m) => `${m.resourceType}/${m.id}`));
    const out: StoredVersion[] = [];
    let cut = false;
    let frontier = matches;
    for (let round = 0; round < 5 && frontier.length && !cut; round++) {
      const specsInc = req.include.filter((s) => round === 0 || s.iterate);
      const specsRev = req.revinclude.filter((s) => round === 0 || s.iterate);
      if (!specsInc.length && !specsRev.length) break;
      const wanted: StoredVersion[] = [];
      // Each read asks for one more than the limit: that many back means some were left out.
      const reads = [
        ...specsInc.map((s) => async () => {
          // Round 0 of an include read with the page (the same statement, run()).
          const found = round === 0 && prefetched?.spec === s ? prefetched.found : await this.forwardRefs(s, frontier, input, max + 1, notSeen(seen));
          return this.atVersions(s, frontier, found, input);
        }),
        ...specsRev.map((s) => () => this.reverseRefs(s, frontier, input, max + 1, notSeen(seen))),
      ];
      for (const read of reads) {
        const found = await read();
        if (found.length > max) cut = true;
        wanted.push(...found);
      }
      const fresh = wanted.filter((w) => !seen.has(`${w.resourceType}/${w.id}`) && input.canRead(w.resourceType));
      if (!fresh.length) break;
      const next: StoredVersion[] = [];
      for (const v of fresh) {
        if (out.length + next.length >= max) {
          cut = true;
          break;
        }
        const key = `${v.resourceType}/${v.id}`;
        if (seen.has(key) || v.deleted || !v.json) continue;
        if (input.compartment !== undefined && v.patientId !== null && v.patientId !== input.compartment) continue;
        if (input.visible && !input.visible(v)) continue;
        seen.add(key);
        next.push(v);
      }
      out.push(...next);
      frontier = next;
    }
    return { included: out, cut };
  }

  /**
   * search.html#include: a versioned reference (`Observation/x/_history/1`) includes that version,
   * not the current one. The index keeps only the resource, so the sources (already in memory) are
   * read for the parameter's versioned references; other includes stay as they are.
   */
  private async atVersions(spec: IncludeSpec, from: StoredVersion[], found: StoredVersion[], input: SearchInput): Promise<StoredVersion[]> {
    const versioned = new Map<string, number>();
    for (const v of from) {
      if ((spec.sourceType !== '*' && v.resourceType !== spec.sourceType) || !v.json?.includes('/_history/')) continue;
      const resource = JSON.parse(v.json) as Resource;
      const codes = spec.code !== '*' ? [spec.code] : indexedParamsOf(v.resourceType).filter((d) => d.type === 'reference').map((d) => d.code);
      for (const code of codes) {
        for (const r of versionedReferences(resource, code)) if (!spec.targetType || r.type === spec.targetType) versioned.set(`${r.type}/${r.id}`, r.version);
      }
    }
    if (!versioned.size) return found;
    return Promise.all(
      found.map(async (v) => {
        const version = versioned.get(`${v.resourceType}/${v.id}`);
        if (version === undefined || version === v.versionId) return v;
        return (await this.store.readVersion(v.resourceType, v.id, version, input.tx)) ?? v;
      }),
    );
  }

  /** The current stored versions of the resources `refs` (columns t, i) names, in one statement. */
  private async readRefs(refs: Sql, tx?: Pick<Tx, 'query'>): Promise<StoredVersion[]> {
    const rows = await this.query<ResourceRow>(sql`WITH refs AS (${refs}) ${refRowsSql(this.keys.decryptionKeys())}`, tx);
    return rows.map(toStored);
  }

  private async forwardRefs(spec: IncludeSpec, from: StoredVersion[], input: SearchInput, limit: number, unseen: Unseen): Promise<StoredVersion[]> {
    const sources = from.filter((v) => spec.sourceType === '*' || v.resourceType === spec.sourceType);
    if (!sources.length) return [];
    const keys = sql`(r.resource_type, r.resource_id) IN (SELECT * FROM unnest(${sources.map((s) => s.resourceType)}::text[], ${sources.map((s) => s.id)}::text[]))`;
    const types = [...new Set(sources.map((v) => v.resourceType))];
    return this.readRefs(this.forwardRefsSql(spec, keys, input.compartment, limit, unseen, types), input.tx);
  }

  /**
   * The resources (t, i) an _include names from the sources `keys` selects (a condition on
   * r.resource_type, r.resource_id), at most `limit` of each kind, leaving out those `unseen` says
   * the Bundle already holds (before the limit: they would take the places of others).
   */
  private forwardRefsSql(spec: IncludeSpec, keys: Sql, compartment: string | undefined, limit: number, unseen: Unseen, sourceTypes?: string[]): Sql {
    // The sources' reference rows: of the source type, of the types given, or of any type.
    const rows = referenceRows(spec.sourceType !== '*' ? [spec.sourceType] : sourceTypes);
    const byCode = spec.code !== '*' ? sql`AND r.code = ${spec.code}` : sql``;
    const confined = (alias: string) => (compartment !== undefined ? sql`AND ${raw(alias)}.patient_id IN ('', ${compartment})` : sql``);
    return sql`
      (SELECT DISTINCT target_type AS t, target_id AS i FROM ${raw(rows)} r
      WHERE ${keys} AND target_type IS NOT NULL ${byCode}
        ${spec.targetType ? sql`AND target_type = ${spec.targetType}` : sql``}
        ${confined('r')} ${unseen('target_type, target_id')}
      LIMIT ${limit})
      UNION
      -- Canonical references (QuestionnaireResponse.questionnaire): the resources whose url they name.
      (SELECT DISTINCT u.resource_type, u.resource_id FROM ${raw(rows)} r
         JOIN search_uri u ON u.resource_type = ANY(${namesLit(canonicalTargetTypes())}) AND u.code = 'url' AND u.value = r.url COLLATE "C"
      WHERE ${keys} AND r.target_type IS NULL AND r.url IS NOT NULL ${byCode}
        ${spec.targetType ? sql`AND u.resource_type = ${spec.targetType}` : sql``}
        ${confined('u')} ${unseen('u.resource_type, u.resource_id')}
      LIMIT ${limit})`;
  }

  private async reverseRefs(spec: IncludeSpec, to: StoredVersion[], input: SearchInput, limit: number, unseen: Unseen): Promise<StoredVersion[]> {
    const { compartment } = input;
    const targets = spec.targetType ? to.filter((v) => v.resourceType === spec.targetType) : to;
    if (!targets.length) return [];
    // `*` names every type but those left out of system-level searches (the server's own AuditEvents,
    // which name every resource read: they come when asked by name, AuditEvent:entity).
    const bySource =
      spec.sourceType !== '*' ? sql`AND r.resource_type = ${spec.sourceType}` : input.hiddenTypes.length ? sql`AND r.resource_type <> ALL(${namesLit(input.hiddenTypes)})` : sql``;
    const byCode = spec.code !== '*' ? sql`AND r.code = ${spec.code}` : sql``;
    const confined = compartment !== undefined ? sql`AND r.patient_id IN ('', ${compartment})` : sql``;
    const canonical = targets.filter((t) => canonicalTargetTypes().includes(t.resourceType));
    const rows = referenceRows(spec.sourceType !== '*' ? [spec.sourceType] : undefined, input.hiddenTypes);
    return this.readRefs(sql`
      (SELECT DISTINCT resource_type AS t, resource_id AS i FROM ${raw(rows)} r
      WHERE ${
        targets.length === 1
          ? sql`target_id = ${targets[0].id}::text AND target_type = ${targets[0].resourceType}::text`
          : sql`(target_id, target_type) IN (SELECT * FROM unnest(${targets.map((t) => t.id)}::text[], ${targets.map((t) => t.resourceType)}::text[]))`
      }
        ${bySource} ${byCode} ${confined} ${unseen('r.resource_type, r.resource_id')}
      LIMIT ${limit})
      ${
        canonical.length
          ? sql`UNION
      -- Resources naming these by canonical url (a QuestionnaireResponse its Questionnaire).
      (SELECT DISTINCT r.resource_type, r.resource_id FROM search_uri u
         JOIN ${raw(rows)} r ON r.url = u.value COLLATE "default" AND r.target_type IS NULL
      WHERE (u.resource_type, u.resource_id) IN (SELECT * FROM unnest(${canonical.map((t) => t.resourceType)}::text[], ${canonical.map((t) => t.id)}::text[])) AND u.code = 'url'
        ${bySource} ${byCode} ${confined} ${unseen('r.resource_type, r.resource_id')}
      LIMIT ${limit})`
          : sql``
      }`, input.tx);
  }

  private entry(base: string, v: StoredVersion, mode: 'match' | 'include', req: SearchRequest): BundleEntry | RawEntry {
    const fullUrl = `${base}/${v.resourceType}/${v.id}`;
    // Unchanged resources stay text; only _summary/_elements reshape a match.
    if (mode === 'include' || (!req.elements?.length && !['true', 'text', 'data'].includes(req.summary as string))) {
      return { fullUrl, json: v.json as string, search: { mode } };
    }
    return { fullUrl, resource: shapeResource(parseFhirJson(v.json as string) as Resource, req.summary, req.elements), search: { mode } };
  }

  private links(input: SearchInput, req: SearchRequest, keys: SortKey[], page: MatchRow[], hasNext: boolean, hasPrevious: boolean, ignored: SearchNote[]): BundleLink[] {
    const ignoredNames = new Set(ignored.filter((m) => !m.kept).map((m) => m.name));
    const kept = input.params.filter(([k]) => k !== '_cursor' && !ignoredNames.has(k.trim()));
    const url = (cursor?: string) => {
      const path = input.patientCompartment !== undefined ? `/Patient/${input.patientCompartment}/${input.resourceType ?? '*'}` : input.resourceType ? `/${input.resourceType}` : '';
      const u = new URL(`${input.base}${path}`);
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
    if (tx) return tx.query<T>(q.text, q.params);
    // Search SQL has a bounded set of shapes (values are parameters): keep them prepared (DatabaseService knows when it cannot).
    return this.db.queryPrepared<T>(q.text, q.params);
  }
}

/** A current row as a match or include: only once its content is shown to be the row's own (stored-integrity.ts). */
function toStored(r: ResourceRow): StoredVersion {
  assertIntegrity({ resourceType: r.resource_type, id: r.id, versionId: Number(r.version_id), patientId: r.patient_id, json: r.json, sealed: !!r.sealed }, true);
  return {
    resourceType: r.resource_type,
    id: r.id,
    versionId: Number(r.version_id),
    lastUpdated: new Date(r.last_updated as Date),
    deleted: !!r.deleted,
    patientId: r.patient_id,
    json: r.json,
  };
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
