import { Inject, Injectable } from '@nestjs/common';
import type { Bundle } from '@medplum/fhirtypes';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../core/tokens';
import { KeyRing } from '../../crypto/key-ring';
import { DatabaseService } from '../../database/database.service';
import { badRequest, gone, notFound } from '../operation-outcome';
import { assertIntegrity } from '../store/stored-integrity';
import { fhirResourceTypes, isResourceType } from '../definitions/fhir-definitions';
import { hiddenFromPatients, mayReferToPatient, patientRecordType, sharedVisibleTo } from '../definitions/patient-references';
import { bundleJson, bundleObject, type RawBundle, type RawEntry } from '../search/bundle-json';
import { sharedContentVisible } from '../search/shared-visibility';
import { timedOut, tooCostly } from '../search/search-timeout';

export interface EverythingQuery {
  patientId: string;
  count: number;
  offset: number;
  since?: Date;
  types?: string[];
  /** The care dates asked for (`start`, `end`): [low, high) instants, open-ended as -infinity / infinity. */
  careDates?: { low: string; high: string };
}

/**
 * Shared types never in a Patient's $everything (those hidden from patients, and patient record
 * types: an Observation filed under no patient is not this patient's record), and those that cannot
 * refer to a Patient (no check needed).
 */
let sharedRule: { hidden: string; free: string } | undefined;
/** Each as a text[] literal (type names are letters only): serialising the arrays of about 70 names cost 2 % of a request. */
const sharedTypes = () =>
  (sharedRule ??= {
    hidden: `{${[...fhirResourceTypes()].filter((t) => hiddenFromPatients(t) || patientRecordType(t)).join(',')}}`,
    free: `{${[...fhirResourceTypes()].filter((t) => !mayReferToPatient(t)).join(',')}}`,
  });

/**
 * Patient/{id}/$everything: the Patient, every current resource in its compartment, and the
 * resources outside any compartment that those reference through their search parameters
 * (Practitioners, Organizations, Locations, Medications...; never one of a patient record type
 * filed under no patient) unless they concern another patient
 * (the rule patient tokens are held to, sharedVisibleTo in patient-references.ts: a shared GuidanceResponse about
 * another Patient is that patient's record, not this one's), paged in a stable order (the Patient first).
 */
@Injectable()
export class EverythingService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: DatabaseService,
    private readonly keys: KeyRing,
  ) {}

  async everything(q: EverythingQuery, base: string, selfUrl: URL): Promise<Bundle> {
    return bundleObject(await this.run(q, base, selfUrl));
  }

  /** As `everything`, as JSON text: the stored resources are spliced in without a parse and serialise. */
  async everythingJson(q: EverythingQuery, base: string, selfUrl: URL): Promise<string> {
    return bundleJson(await this.run(q, base, selfUrl));
  }

  private async run(q: EverythingQuery, base: string, selfUrl: URL): Promise<RawBundle> {
    const unknownType = q.types?.find((t) => !isResourceType(t));
    if (unknownType !== undefined) {
      await this.requirePatient(q.patientId); // 404 / 410 come first, as for a read
      throw badRequest(`_type names an unknown resource type "${unknownType}"`);
    }
    const key = this.keys.decryptionKeys();
    const filters = (alias = '') =>
      [q.types?.length ? `${alias}resource_type = ANY(?::text[])` : '', q.since ? `${alias}last_updated >= ?` : ''].filter(Boolean).map((f) => `AND ${f}`).join(' ');
    const filterParams = [...(q.types?.length ? [q.types] : []), ...(q.since ? [q.since] : [])];
    // start/end: a compartment resource is in range when one of its dates (any date search
    // parameter: effective, period, onset, authored...) overlaps it, or when it has none (nothing
    // says it is out of range); the Patient always is. Shared resources come only through those.
    const inRange = (alias: string) =>
      q.careDates
        ? `AND (${alias}resource_type = 'Patient'
             OR NOT EXISTS (SELECT 1 FROM search_date d WHERE d.resource_type = ${alias}resource_type AND d.resource_id = ${alias}id)
             OR EXISTS (SELECT 1 FROM search_date d WHERE d.resource_type = ${alias}resource_type AND d.resource_id = ${alias}id
                        AND d.high > ?::timestamptz AND d.low < ?::timestamptz))`
        : '';
    const rangeParams = q.careDates ? [q.careDates.low, q.careDates.high] : [];
    const content = sharedContentVisible(q.patientId, 'f');
    // Sorts and counts the keys only, then reads (and decrypts) the page's rows by primary key.
    // A stable text (it varies only with _type, _since and the care dates): kept prepared, except through PgBouncer.
    const rows = await this.stableQuery<{ grp: number; resource_type: string; id: string; json: string; sealed: boolean; version_id: number; total: string }>(
      `WITH refs AS (
         -- the resources the compartment refers to, from the search index (no decryption; it holds
         -- current resources only): one range of search_reference_patient, in (type, id) order, so
         -- DISTINCT needs no sort. (Probing the index once per compartment resource cost half the
         -- statement. Filtering here on the types that may be shared cost as much as it saved:
         -- every row compared with a hundred types; the lookups below filter the few distinct ones.)
         SELECT DISTINCT s.target_type AS resource_type, s.target_id AS id FROM search_reference s
         WHERE s.patient_id = ? AND s.patient_id <> '' AND s.target_type IS NOT NULL
           ${q.careDates ? `AND EXISTS (SELECT 1 FROM fhir_patient_resource c WHERE c.patient_id = s.patient_id AND c.resource_type = s.resource_type AND c.id = s.resource_id AND NOT c.deleted ${inRange('c.')})` : ''}
       ), keys AS (
         SELECT CASE WHEN k.resource_type = 'Patient' THEN 0 ELSE 1 END AS grp, k.resource_type, k.id FROM fhir_patient_resource k
         WHERE k.patient_id = ? AND NOT k.deleted AND (k.resource_type <> 'Patient' OR k.id = ?) ${filters('k.')} ${inRange('k.')}
         UNION ALL
         -- Each by its key, in a lateral subquery (OFFSET 0), as the page's rows below are read.
         SELECT 2, f.resource_type, f.id FROM refs CROSS JOIN LATERAL (
           SELECT f.resource_type, f.id FROM fhir_resource f
           WHERE f.resource_type = refs.resource_type AND f.id = refs.id AND NOT f.deleted ${filters('f.')}
             -- never a shared resource that concerns another patient (src/fhir/search/shared-visibility.ts)
             AND f.resource_type <> ALL(?::text[])
             AND (f.resource_type = ANY(?::text[]) OR NOT EXISTS (
               SELECT 1 FROM search_reference sv WHERE sv.resource_type = f.resource_type AND sv.resource_id = f.id
                 AND sv.patient_id = '' AND sv.target_type = 'Patient' AND sv.target_id <> ?))
             -- and by their content (extensions, contained resources), so that the total counts what is shown
             AND ${content.text}
           OFFSET 0
         ) f
       ), page AS (
         SELECT *, count(*) OVER () AS total FROM keys ORDER BY grp, resource_type, id LIMIT ? OFFSET ?
       )
       -- Each page row by its primary key, in a lateral subquery the planner cannot flatten (OFFSET 0).
       -- fhir_resource also holds every AuditEvent, so it grows with each request: as a plain join, a
       -- generic plan made while it was small hashed a scan of the whole table for each page
       -- (test/integration/everything-plan.spec.ts), and the shared resources' join could do the same.
       SELECT p.grp, p.resource_type, p.id, p.total,
              CASE WHEN r.content_enc IS NOT NULL THEN fhir_decrypt(r.content_enc, r.key_id, ?::text[]) ELSE r.content::text END AS json,
              r.content_enc IS NOT NULL AS sealed, r.version_id
       FROM page p
       LEFT JOIN LATERAL (
         SELECT g.content, g.content_enc, g.key_id, g.version_id FROM fhir_patient_resource g
         WHERE p.grp < 2 AND g.patient_id = ? AND g.resource_type = p.resource_type AND g.id = p.id
         UNION ALL
         SELECT f.content, f.content_enc, f.key_id, f.version_id FROM fhir_resource f
         WHERE p.grp = 2 AND f.resource_type = p.resource_type AND f.id = p.id
         OFFSET 0
       ) r ON true
       ORDER BY p.grp, p.resource_type, p.id`,
      [q.patientId, ...rangeParams, q.patientId, q.patientId, ...filterParams, ...rangeParams, ...filterParams, sharedTypes().hidden, sharedTypes().free, q.patientId, ...content.params, q.count, q.offset, key, q.patientId],
    );
    // The Patient itself on the page proves it is there; otherwise ask (404 / 410 as for a read).
    if (!(rows[0]?.grp === 0 && rows[0].id === q.patientId)) await this.requirePatient(q.patientId);
    let total = rows.length ? Number(rows[0].total) : 0;
    if (!rows.length && q.offset > 0) {
      const again = await this.run({ ...q, count: 1, offset: 0 }, base, selfUrl);
      total = again.total ?? 0;
    }
    // Nothing is served whose content is not its row's own (stored-integrity.ts).
    for (const r of rows) {
      assertIntegrity({ resourceType: r.resource_type, id: r.id, versionId: Number(r.version_id), patientId: r.grp < 2 ? q.patientId : null, json: r.json, sealed: r.sealed }, true);
    }
    // The SQL leaves out shared resources whose references (indexed or in their content) name
    // another patient; the check a read makes runs again here, as a last guard.
    const shown = rows.filter((r) => r.grp < 2 || sharedVisibleTo(q.patientId, { resourceType: r.resource_type, json: r.json }));
    const entry: RawEntry[] = shown.map((r) => ({ fullUrl: `${base}/${r.resource_type}/${r.id}`, json: r.json, search: { mode: 'match' } }));
    const link = (relation: string, offset: number) => {
      const u = new URL(selfUrl);
      u.searchParams.set('_count', String(q.count));
      if (offset > 0) u.searchParams.set('_offset', String(offset));
      else u.searchParams.delete('_offset');
      return { relation, url: u.toString() };
    };
    const links = [link('self', q.offset)];
    if (q.count > 0 && q.offset + q.count < total) links.push(link('next', q.offset + q.count));
    if (q.offset > 0) links.push(link('previous', Math.max(0, q.offset - q.count)));
    return { resourceType: 'Bundle', type: 'searchset', total, link: links, entry };
  }

  /** The page's statement, read-only and within SEARCH_TIMEOUT_MS as a search's are (400 too-costly beyond). */
  private async stableQuery<T>(text: string, params: unknown[]): Promise<T[]> {
    const limit = this.config.searchTimeoutMs;
    try {
      return await this.db.boundedRead(limit, (tx) => tx.query<T>(text, params));
    } catch (e) {
      if (timedOut(e)) throw tooCostly(limit);
      throw e;
    }
  }

  /** 404 for an unknown Patient, 410 for a deleted one, as a read answers (without decrypting it). */
  private async requirePatient(id: string): Promise<void> {
    const [row] = await this.db.query<{ deleted: boolean; version_id: number }>(
      `SELECT deleted, version_id FROM fhir_patient_resource WHERE resource_type = 'Patient' AND id = ?`,
      [id],
    );
    if (!row) throw notFound(`Patient/${id} is not known`);
    if (row.deleted) throw gone(`Patient/${id} was deleted (version ${row.version_id})`);
  }
}
