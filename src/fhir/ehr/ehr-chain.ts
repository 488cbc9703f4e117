import { createHash } from 'node:crypto';

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
