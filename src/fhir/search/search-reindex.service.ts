import { Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { KeyRing } from '../../crypto/key-ring';
import { DatabaseService } from '../../database/database.service';
import { SearchIndexWriter } from './search-index.writer';
import { storedJsonSql } from '../store/stored-json';

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

  async reindexAll(batchSize = 500, progress?: (done: number) => void): Promise<number> {
    let done = 0;
    for (const table of ['fhir_resource', 'fhir_patient_resource']) {
      const patientCol = table === 'fhir_patient_resource' ? 'patient_id::text' : 'NULL::text';
      let after: [string, string] = ['', ''];
      for (;;) {
        const rows = await this.db.query<{ resource_type: string; id: string; patient_id: string | null; json: string }>(
          `SELECT resource_type, id, ${patientCol} AS patient_id, ${storedJsonSql()} AS json
           FROM ${table} WHERE NOT deleted AND (resource_type, id) > (?, ?) ORDER BY resource_type, id LIMIT ?`,
          [this.keys.decryptionKeys(), after[0], after[1], batchSize],
        );
        if (!rows.length) break;
        await this.db.transaction({ actor: 'system:reindex' }, async (tx) => {
          const items = rows.map((r) => ({ resource: JSON.parse(r.json) as Resource, patientId: r.patient_id, isNew: false }));
          await this.index.indexMany(tx, items);
        });
        done += rows.length;
        progress?.(done);
        const last = rows[rows.length - 1];
        after = [last.resource_type, last.id];
      }
    }
    return done;
  }
}
