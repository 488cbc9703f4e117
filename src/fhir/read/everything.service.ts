import { Injectable } from '@nestjs/common';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { KeyRing } from '../../crypto/key-ring';
import { DatabaseService } from '../../database/database.service';
import { badRequest } from '../operation-outcome';
import { isResourceType } from '../definitions/fhir-definitions';
import { ResourceReadService } from './resource-read.service';

export interface EverythingQuery {
  patientId: string;
  count: number;
  offset: number;
  since?: Date;
  types?: string[];
}

/**
 * Patient/{id}/$everything: the Patient, every current resource in its compartment, and the
 * resources outside any compartment that those reference through their search parameters
 * (Practitioners, Organizations, Locations, Medications...), paged in a stable order (the Patient first).
 */
@Injectable()
export class EverythingService {
  constructor(
    private readonly db: DatabaseService,
    private readonly keys: KeyRing,
    private readonly reader: ResourceReadService,
  ) {}

  async everything(q: EverythingQuery, base: string, selfUrl: URL): Promise<Bundle> {
    await this.reader.read('Patient', q.patientId); // 404 / 410 as for a read
    for (const t of q.types ?? []) if (!isResourceType(t)) throw badRequest(`_type names an unknown resource type "${t}"`);
    const key = this.keys.decryptionKeys();
    const filters = (alias = '') =>
      [q.types?.length ? `${alias}resource_type = ANY(?::text[])` : '', q.since ? `${alias}last_updated >= ?` : ''].filter(Boolean).map((f) => `AND ${f}`).join(' ');
    const filterParams = [...(q.types?.length ? [q.types] : []), ...(q.since ? [q.since] : [])];
    const rows = await this.db.query<{ resource_type: string; id: string; json: string; total: string }>(
      `WITH comp AS (
         SELECT resource_type, id, last_updated, content, content_enc, key_id FROM fhir_patient_resource
         WHERE patient_id = ? AND NOT deleted AND (resource_type <> 'Patient' OR id = ?)
       ), refs AS (
         -- the shared resources the compartment refers to, from the search index (no decryption)
         SELECT DISTINCT target_type AS resource_type, target_id AS id FROM search_reference
         WHERE patient_id = ? AND target_type IS NOT NULL
       ), keys AS (
         SELECT CASE WHEN resource_type = 'Patient' THEN 0 ELSE 1 END AS grp, resource_type, id, content, content_enc, key_id
         FROM comp WHERE true ${filters()}
         UNION ALL
         SELECT 2, f.resource_type, f.id, f.content, f.content_enc, f.key_id FROM fhir_resource f
         JOIN refs ON f.resource_type = refs.resource_type AND f.id = refs.id
         WHERE NOT f.deleted ${filters('f.')}
       ), page AS (
         SELECT *, count(*) OVER () AS total FROM keys ORDER BY grp, resource_type, id LIMIT ? OFFSET ?
       )
       -- decrypt the page only
       SELECT resource_type, id, total,
              CASE WHEN content_enc IS NOT NULL THEN fhir_decrypt(content_enc, key_id, ?::text[]) ELSE content::text END AS json
       FROM page ORDER BY grp, resource_type, id`,
      [q.patientId, q.patientId, q.patientId, ...filterParams, ...filterParams, q.count, q.offset, key],
    );
    let total = rows.length ? Number(rows[0].total) : 0;
    if (!rows.length && q.offset > 0) {
      const again = await this.everything({ ...q, count: 1, offset: 0 }, base, selfUrl);
      total = again.total ?? 0;
    }
    const entry: BundleEntry[] = rows.map((r) => ({
      fullUrl: `${base}/${r.resource_type}/${r.id}`,
      resource: JSON.parse(r.json) as Resource,
      search: { mode: 'match' },
    }));
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
}
