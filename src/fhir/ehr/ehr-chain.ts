import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical-json';

/** The clinical documents that make up a patient's EHR record chain (the seed's ehr_records). */
export const EHR_RECORD_TYPES: ReadonlySet<string> = new Set(['DocumentReference', 'DiagnosticReport', 'Composition']);

/** The hash that links the first record of a chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** What one link of the chain commits to. */
export interface ChainLink {
  seq: number;
  recordType: string;
  resourceId: string;
  resourceVersion: number;
  /** The canonical JSON of the resource version; null for a deletion. */
  content: string | null;
  previousHash: string;
}

/**
 * The hash of one record: SHA-256 over its place in the chain, what it records, the hash of its
 * content, and the previous record's hash. Changing, removing or reordering any record changes
 * every hash after it. Pure.
 */
export function linkHash(link: ChainLink): string {
  const contentHash = createHash('sha256').update(link.content ?? 'deleted').digest('hex');
  return createHash('sha256')
    .update([link.previousHash, link.seq, link.recordType, link.resourceId, link.resourceVersion, contentHash].join('|'))
    .digest('hex');
}

export interface StoredLink extends ChainLink {
  id: string;
  hash: string;
}

export type ChainVerdict = { valid: true; records: number } | { valid: false; records: number; brokenAt: string; reason: string };

/** Checks a patient's chain, records in `seq` order as stored. Pure. */
export function verifyChain(records: StoredLink[]): ChainVerdict {
  let previous = GENESIS_HASH;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r.seq !== i + 1) {
      return { valid: false, records: records.length, brokenAt: r.id, reason: `record ${r.id} has sequence number ${r.seq} where ${i + 1} was expected: a record was removed or reordered` };
    }
    if (r.previousHash !== previous) {
      return { valid: false, records: records.length, brokenAt: r.id, reason: `record ${r.id} does not link to the record before it: a record was removed, inserted or reordered` };
    }
    if (linkHash(r) !== r.hash) {
      return { valid: false, records: records.length, brokenAt: r.id, reason: `record ${r.id} does not match its hash: its content or metadata was changed` };
    }
    previous = r.hash;
  }
  return { valid: true, records: records.length };
}

/** A clinical document as the store holds it now for the patient (the current row: what reads serve). */
export interface CurrentDocument {
  resourceType: string;
  id: string;
  versionId: number;
  deleted: boolean;
  /** The stored text (decrypted); null for a deletion. */
  json: string | null;
  /** Why the row's content is not its own (stored-integrity.ts), if it is not. */
  integrityProblem?: string;
}

export interface DocumentProblem {
  brokenAt: string;
  reason: string;
}

/**
 * Checks a patient's current clinical documents against the (already verified) chain: every one
 * must be in it, at its stored version, and its stored content must be what the chain recorded
 * for that version (same canonical JSON, so the same content hash). A document changed, swapped
 * or put in without the write path is found here, since the chain alone only covers its own
 * copies. `elsewhere`: chained documents of the patient that are not among `documents` but are
 * stored under another patient (they moved); the others were removed. Pure.
 */
export function verifyDocuments(chain: StoredLink[], documents: CurrentDocument[], elsewhere: ReadonlySet<string>): DocumentProblem | undefined {
  const latest = new Map<string, StoredLink>();
  for (const r of chain) latest.set(`${r.recordType}/${r.resourceId}`, r);
  for (const d of documents) {
    const key = `${d.resourceType}/${d.id}`;
    const record = latest.get(key);
    if (!record) return { brokenAt: key, reason: `${key} is stored for this patient but has no record in the chain: it was put in or moved here outside the write path` };
    if (d.integrityProblem) return { brokenAt: record.id, reason: `the stored ${key} failed its integrity check: ${d.integrityProblem}` };
    if (record.resourceVersion !== d.versionId) {
      return { brokenAt: record.id, reason: `the stored ${key} is version ${d.versionId}, the chain's last record of it is version ${record.resourceVersion}` };
    }
    if (d.deleted || d.json === null) {
      if (record.content !== null) return { brokenAt: record.id, reason: `the stored ${key} is marked deleted, the chain records version ${d.versionId} with content` };
      continue;
    }
    if (storedCanonical(d.json) !== record.content) {
      return { brokenAt: record.id, reason: `the stored content of ${key} does not match the hash the chain recorded for version ${d.versionId}: it was changed or replaced` };
    }
  }
  const present = new Set(documents.map((d) => `${d.resourceType}/${d.id}`));
  for (const [key, record] of latest) {
    if (!present.has(key) && !elsewhere.has(key)) return { brokenAt: record.id, reason: `${key}, recorded in the chain, is no longer stored: it was removed` };
  }
  return undefined;
}

function storedCanonical(json: string): string | undefined {
  try {
    return canonicalJson(JSON.parse(json));
  } catch {
    return undefined;
  }
}
