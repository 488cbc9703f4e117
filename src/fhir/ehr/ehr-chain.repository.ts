import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import { KeyRing, PGP_OPTIONS } from '../../crypto/key-ring';
import { DatabaseService, type Tx } from '../../database/database.service';
import { canonicalJson } from '../canonical-json';
import { integrityProblem } from '../store/stored-integrity';
import { storedJsonSql } from '../store/stored-json';
import { EHR_RECORD_TYPES, GENESIS_HASH, linkHash, type CurrentDocument, type StoredLink } from './ehr-chain';

export interface ChainAppend {
  patientId: string;
  resourceType: string;
  resourceId: string;
  versionId: number;
  /** The stored resource; absent for a deletion. */
  resource?: Resource;
}

/**
 * ehr_records: every version of a patient's clinical documents, encrypted, appended to that
 * patient's hash chain. Appends for one patient are serialised by an advisory lock, so the chain
 * stays linear however many writers there are.
 */
@Injectable()
export class EhrChainRepository {
  constructor(
    private readonly db: DatabaseService,
    private readonly keys: KeyRing,
  ) {}

  records(resourceType: string): boolean {
    return EHR_RECORD_TYPES.has(resourceType);
  }

  /** Appends the records; returns whether there were any. */
  async append(tx: Tx, items: ChainAppend[]): Promise<boolean> {
    const byPatient = new Map<string, ChainAppend[]>();
    for (const item of items) {
      if (!this.records(item.resourceType)) continue;
      byPatient.set(item.patientId, [...(byPatient.get(item.patientId) ?? []), item]);
    }
    if (!byPatient.size) return false;
    const patients = [...byPatient.keys()].sort();
    await tx.query('SELECT count(pg_advisory_xact_lock(hashtextextended(k, 2))) FROM (SELECT unnest(?::text[]) AS k ORDER BY 1) s', [
      patients.map((p) => `ehr:${p}`),
    ]);
    const heads = await tx.query<{ patient_id: string; seq: string; blockchain_hash: string }>(
      `SELECT DISTINCT ON (patient_id) patient_id, seq, blockchain_hash FROM ehr_records
       WHERE patient_id = ANY(?::text[]) ORDER BY patient_id, seq DESC`,
      [patients],
    );
    const head = new Map(heads.map((h) => [h.patient_id, { seq: Number(h.seq), hash: h.blockchain_hash }]));
    const params: unknown[] = [];
    const tuples: string[] = [];
    for (const patientId of patients) {
      let { seq, hash } = head.get(patientId) ?? { seq: 0, hash: GENESIS_HASH };
      for (const item of byPatient.get(patientId) ?? []) {
        const content = item.resource ? canonicalJson(item.resource) : null;
        seq += 1;
        const link = { seq, recordType: item.resourceType, resourceId: item.resourceId, resourceVersion: item.versionId, content, previousHash: hash };
        const next = linkHash(link);
        params.push(patientId, randomUUID(), seq, item.resourceType, item.resourceId, item.versionId, content, this.keys.dataKey(), this.keys.activeKeyId, hash, next);
        tuples.push(`(?, ?, ?, ?, ?, ?, pgp_sym_encrypt(?, ?, '${PGP_OPTIONS}'), ?, ?, ?)`);
        hash = next;
      }
    }
    await tx.query(
      `INSERT INTO ehr_records (patient_id, id, seq, record_type, resource_id, resource_version, data, key_id, previous_hash, blockchain_hash)
       VALUES ${tuples.join(', ')}`,
      params,
    );
    return true;
  }

  /** A patient's chain in order, decrypted (deletions have null content). */
  async chain(patientId: string): Promise<StoredLink[]> {
    const rows = await this.db.query<{
      id: string;
      seq: string;
      record_type: string;
      resource_id: string;
      resource_version: number;
      content: string | null;
      previous_hash: string;
      blockchain_hash: string;
    }>(
      `SELECT id, seq, record_type, resource_id, resource_version, fhir_decrypt(data, key_id, ?::text[]) AS content, previous_hash, blockchain_hash
       FROM ehr_records WHERE patient_id = ? ORDER BY seq, id`,
      [this.keys.decryptionKeys(), patientId],
    );
    return rows.map((r) => ({
      id: r.id,
      seq: Number(r.seq),
      recordType: r.record_type,
      resourceId: r.resource_id,
      resourceVersion: Number(r.resource_version),
      content: r.content === 'null' ? null : r.content,
      previousHash: r.previous_hash,
      hash: r.blockchain_hash,
    }));
  }

  /** Patients that have a chain or clinical documents (which should be in one). */
  async patients(): Promise<string[]> {
    const rows = await this.db.query<{ patient_id: string }>(
      `SELECT patient_id FROM ehr_records
       UNION SELECT patient_id::text FROM fhir_patient_resource WHERE resource_type = ANY(?::text[])
       ORDER BY patient_id`,
      [[...EHR_RECORD_TYPES]],
    );
    return rows.map((r) => r.patient_id);
  }

  /** The patient's clinical documents as currently stored (what reads serve), decrypted, each with the outcome of its integrity check. */
  async currentDocuments(patientId: string): Promise<CurrentDocument[]> {
    const rows = await this.db.query<{ resource_type: string; id: string; version_id: number; deleted: boolean; json: string | null; sealed: boolean }>(
      `SELECT resource_type, id, version_id, deleted, ${storedJsonSql()} AS json, content_enc IS NOT NULL AS sealed
       FROM fhir_patient_resource WHERE patient_id = ? AND resource_type = ANY(?::text[]) ORDER BY resource_type, id`,
      [this.keys.decryptionKeys(), patientId, [...EHR_RECORD_TYPES]],
    );
    return rows.map((r) => ({
      resourceType: r.resource_type,
      id: r.id,
      versionId: Number(r.version_id),
      deleted: r.deleted,
      json: r.json,
      integrityProblem: integrityProblem({ resourceType: r.resource_type, id: r.id, versionId: Number(r.version_id), patientId, json: r.json, sealed: r.sealed }, true),
    }));
  }

  /** Which of these documents (`Type/id`) are stored under a patient other than this one. */
  async storedElsewhere(patientId: string, keys: string[]): Promise<Set<string>> {
    if (!keys.length) return new Set();
    const split = keys.map((k) => k.split('/'));
    const rows = await this.db.query<{ k: string }>(
      `SELECT r.resource_type || '/' || r.id AS k FROM fhir_patient_resource r
       JOIN unnest(?::text[], ?::text[]) AS w(resource_type, id) ON r.resource_type = w.resource_type AND r.id = w.id
       WHERE r.patient_id <> ?`,
      [split.map((s) => s[0]), split.map((s) => s[1]), patientId],
    );
    return new Set(rows.map((r) => r.k));
  }

  async head(patientId: string): Promise<{ seq: number; hash: string } | undefined> {
    const [row] = await this.db.query<{ seq: string; blockchain_hash: string }>(
      'SELECT seq, blockchain_hash FROM ehr_records WHERE patient_id = ? ORDER BY seq DESC LIMIT 1',
      [patientId],
    );
    return row && { seq: Number(row.seq), hash: row.blockchain_hash };
  }
}
