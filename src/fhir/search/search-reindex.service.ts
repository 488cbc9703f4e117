import { Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { KeyRing } from '../../crypto/key-ring';
import { DatabaseService } from '../../database/database.service';
import { SearchIndexWriter } from './search-index.writer';
import { storedJsonSql } from '../store/stored-json';
import { integrityProblem } from '../store/stored-integrity';

/**
 * Rebuilds the search index from the stored resources, in batches, each in its own transaction:
 * for data written before the index existed, or after the search parameter definitions changed.
 * Safe beside live traffic (each resource's rows are replaced atomically) and resumable (run again).
 */
@Injectable()
export class SearchReindexService {
  constructor(
    private readonly db: DatabaseService,
    private readonly keys: KeyRing,
    private readonly index: SearchIndexWriter,
  ) {}

  /**
   * Reindexes every current resource. A row whose content is not its own (stored-integrity.ts: a
   * ciphertext moved from another row, forged plaintext) is left as it is and named in `refused`:
   * indexing it would make the record findable by another one's values.
   */
  async reindexAll(batchSize = 500, progress?: (done: number) => void): Promise<{ reindexed: number; refused: string[] }> {
    let done = 0;
    const refused: string[] = [];
    for (const table of ['fhir_resource', 'fhir_patient_resource']) {
      const patientCol = table === 'fhir_patient_resource' ? 'patient_id::text' : 'NULL::text';
      let after: [string, string] = ['', ''];
      for (;;) {
        const rows = await this.db.query<{ resource_type: string; id: string; patient_id: string | null; version_id: number; json: string; sealed: boolean }>(
          `SELECT resource_type, id, ${patientCol} AS patient_id, version_id, ${storedJsonSql()} AS json, content_enc IS NOT NULL AS sealed
           FROM ${table} WHERE NOT deleted AND (resource_type, id) > (?, ?) ORDER BY resource_type, id LIMIT ?`,
          [this.keys.decryptionKeys(), after[0], after[1], batchSize],
        );
        if (!rows.length) break;
        const own = rows.filter((r) => {
          const problem = integrityProblem({ resourceType: r.resource_type, id: r.id, versionId: Number(r.version_id), patientId: r.patient_id, json: r.json, sealed: r.sealed }, true);
          if (problem) refused.push(`${r.resource_type}/${r.id}: ${problem}`);
          return !problem;
        });
        if (own.length) {
          await this.db.transaction({ actor: 'system:reindex' }, async (tx) => {
            const items = own.map((r) => ({ resource: JSON.parse(r.json) as Resource, patientId: r.patient_id, isNew: false }));
            await this.index.indexMany(tx, items);
          });
        }
        done += own.length;
        progress?.(done);
        const last = rows[rows.length - 1];
        after = [last.resource_type, last.id];
      }
    }
    return { reindexed: done, refused };
  }
}
