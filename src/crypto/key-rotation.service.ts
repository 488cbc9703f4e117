import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '../core/core.module';
import { DatabaseService } from '../database/database.service';
import { ENCRYPTED_RESOURCE_TYPES } from '../fhir/store/sensitivity';
import { integrityProblem } from '../fhir/store/stored-integrity';
import { KeyRing, PGP_OPTIONS } from './key-ring';

/**
 * Every encrypted column, by table; each table keeps the id of the key that made its ciphertexts in
 * `key_id`. `batch`: at most this many rows per re-encryption statement, where rows are large
 * (an export file holds up to BULK_EXPORT_FILE_BYTES).
 */
export const ENCRYPTED_COLUMNS: ReadonlyArray<{ table: string; columns: readonly string[]; batch?: number }> = [
  { table: 'fhir_resource', columns: ['content_enc'] },
  { table: 'fhir_resource_history', columns: ['content_enc'] },
  { table: 'fhir_patient_resource', columns: ['content_enc'] },
  { table: 'fhir_patient_resource_history', columns: ['content_enc'] },
  { table: 'patients', columns: ['contact_info', 'national_id'] },
  { table: 'ehr_records', columns: ['data'] },
  { table: 'auth_signing_keys', columns: ['private_jwk'] },
  { table: 'exchange_connections', columns: ['secret_enc'] },
  // Derived copies that expire, but re-encrypted all the same: a retired key must leave nothing it alone can read.
  { table: 'bulk_export_files', columns: ['content_enc'], batch: 4 },
];

/** The resource tables, and whether their rows are current versions (stored-integrity.ts checks those against their patient too). */
const RESOURCE_TABLES = [
  { table: 'fhir_resource', current: true, key: ['resource_type', 'id'] },
  { table: 'fhir_resource_history', current: false, key: ['resource_type', 'id', 'version_id'] },
  { table: 'fhir_patient_resource', current: true, key: ['patient_id', 'resource_type', 'id'] },
  { table: 'fhir_patient_resource_history', current: false, key: ['patient_id', 'resource_type', 'id', 'version_id'] },
] as const;

export interface EncryptionReport {
  /** Rows per table and key id. */
  byKey: Record<string, Record<string, number>>;
  /** Problems: ciphertext columns that do not hold PGP messages, plaintext copies of encrypted types, unknown key ids. */
  problems: string[];
}

/**
 * Key rotation: re-encrypts, in small batches, every ciphertext made by a key other than the
 * active one. Progress is the data itself (each row's key_id), so the work resumes wherever a
 * crash or restart left it, and reads keep working throughout since every configured key decrypts.
 * Runs in the worker process at start and then periodically.
 */
@Injectable()
export class KeyRotationService implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly db: DatabaseService,
    private readonly keys: KeyRing,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    const every = Number(process.env.KEY_ROTATION_INTERVAL_MS || 60000);
    if (every <= 0) return;
    const run = () => {
      this.running = this.rotateAll().catch((e) => {
        this.logger.error({ err: (e as Error).message }, 'key rotation pass failed; it resumes on the next pass');
        return 0;
      });
    };
    run();
    this.timer = setInterval(run, every);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Re-encrypts what is not under the active key (at most `maxRows` rows); returns how many rows moved. */
  async rotateAll(batchSize = 500, maxRows = Number.POSITIVE_INFINITY): Promise<number> {
    let moved = 0;
    for (const { table, columns, batch } of ENCRYPTED_COLUMNS) {
      for (;;) {
        if (moved >= maxRows) return moved;
        const limit = Math.min(batch ?? batchSize, batchSize, maxRows - moved);
        const n = await this.rotateBatch(table, columns, limit);
        moved += n;
        if (n < limit) break; // this table is done
      }
    }
    if (moved) this.logger.info({ moved, activeKey: this.keys.activeKeyId }, 'key rotation: rows re-encrypted');
    return moved;
  }

  private async rotateBatch(table: string, columns: readonly string[], limit: number): Promise<number> {
    const active = this.keys.activeKeyId;
    const sets = columns.map((c) => `${c} = pgp_sym_encrypt(fhir_decrypt(${c}, key_id, ?::text[]), ?, '${PGP_OPTIONS}')`);
    const params: unknown[] = [];
    for (let i = 0; i < columns.length; i++) params.push(this.keys.decryptionKeys(), this.keys.dataKey());
    return this.db.transaction({ actor: 'system:key-rotation' }, async (tx) => {
      const rows = await tx.query(
        `UPDATE ${table} SET ${sets.join(', ')}, key_id = ?
         WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE key_id IS NOT NULL AND key_id <> ? LIMIT ? FOR UPDATE SKIP LOCKED))
         RETURNING 1`,
        [...params, active, active, limit],
      );
      return rows.length;
    });
  }

  /** What `npm run check:encryption` prints: rows per key, and anything that looks like plaintext. */
  async report(): Promise<EncryptionReport> {
    const report: EncryptionReport = { byKey: {}, problems: [] };
    const configured = new Set(this.keys.keyIds());
    for (const { table, columns } of ENCRYPTED_COLUMNS) {
      const counts = await this.db.query<{ key_id: number | null; n: string }>(`SELECT key_id, count(*) AS n FROM ${table} GROUP BY key_id ORDER BY key_id`);
      report.byKey[table] = Object.fromEntries(counts.map((c) => [String(c.key_id ?? 'none'), Number(c.n)]));
      for (const c of counts) {
        if (c.key_id !== null && !configured.has(c.key_id)) report.problems.push(`${table}: ${c.n} rows encrypted with key ${c.key_id}, which is not configured`);
      }
      for (const column of columns) {
        // pgcrypto's symmetric messages start with a new-format packet of tag 3 (0xC3).
        const [bad] = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${column} IS NOT NULL AND get_byte(${column}, 0) <> 195`);
        if (Number(bad.n)) report.problems.push(`${table}.${column}: ${bad.n} values are not pgcrypto ciphertext`);
      }
    }
    for (const table of ['fhir_resource', 'fhir_resource_history', 'fhir_patient_resource', 'fhir_patient_resource_history']) {
      const [plain] = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE resource_type = ANY(?::text[]) AND content IS NOT NULL`, [
        [...ENCRYPTED_RESOURCE_TYPES],
      ]);
      if (Number(plain.n)) report.problems.push(`${table}: ${plain.n} resources of encrypted types are stored in plaintext`);
    }
    for (const t of RESOURCE_TABLES) {
      const misplaced = await this.misplacedContent(t.table, t.key, t.current);
      if (misplaced.count) {
        report.problems.push(`${t.table}: ${misplaced.count} encrypted resources hold content that is not their row's (moved or swapped ciphertext), e.g. ${misplaced.examples.join('; ')}`);
      }
    }
    return report;
  }

  /**
   * Decrypts every resource of an encrypted type in the table, in keyset pages, and checks that
   * its content is the row's own, as reads do (stored-integrity.ts): a ciphertext copied into
   * another row is valid ciphertext of a configured key, so only its content shows it.
   */
  private async misplacedContent(table: string, key: readonly string[], current: boolean): Promise<{ count: number; examples: string[] }> {
    const found = { count: 0, examples: [] as string[] };
    const patientCol = key[0] === 'patient_id' ? 'patient_id::text' : 'NULL::text';
    let after: unknown[] | undefined;
    for (;;) {
      const rows = await this.db.query<Record<string, unknown> & { patient_id: string | null; resource_type: string; id: string; version_id: number; json: string | null }>(
        `SELECT ${patientCol} AS patient_id, resource_type, id, version_id, fhir_decrypt(content_enc, key_id, ?::text[]) AS json FROM ${table}
         WHERE content_enc IS NOT NULL AND key_id = ANY(?::smallint[]) AND resource_type = ANY(?::text[]) ${after ? `AND (${key.join(', ')}) > (${key.map(() => '?').join(', ')})` : ''}
         ORDER BY ${key.join(', ')} LIMIT 500`,
        // Rows under keys not configured are reported above and cannot be read here.
        [this.keys.decryptionKeys(), this.keys.keyIds(), [...ENCRYPTED_RESOURCE_TYPES], ...(after ?? [])],
      );
      for (const r of rows) {
        const row = { resourceType: r.resource_type, id: r.id, versionId: Number(r.version_id), patientId: r.patient_id, json: r.json, sealed: true };
        const problem = integrityProblem(row, current);
        if (!problem) continue;
        found.count++;
        if (found.examples.length < 5) found.examples.push(`${r.resource_type}/${r.id}${r.patient_id ? ` of Patient/${r.patient_id}` : ''}: ${problem}`);
      }
      if (rows.length < 500) return found;
      const last = rows[rows.length - 1];
      after = key.map((k) => last[k]);
    }
  }
}
