import { OperationOutcomeError } from '../operation-outcome';
import { isEncryptedType } from './sensitivity';

/** A stored row as read: its key, and its content as text (decrypted when it was `sealed`, i.e. from content_enc). */
export interface StoredRow {
  resourceType: string;
  id: string;
  /** Omitted where the statement does not read it. */
  versionId?: number;
  patientId: string | null;
  json: string | null;
  /** Whether the text came from `content_enc` (ciphertext); false: from the plaintext `content` (json). */
  sealed: boolean;
}

/** The identity a stored document claims for itself: its top-level resourceType and id, and meta.versionId. */
export interface ClaimedIdentity {
  resourceType?: string;
  id?: string;
  versionId?: string;
}

/**
 * Provenances that name no Patient are filed under their first target's patient, Binaries under
 * their securityContext's (ResourceWriteService.ownerByTarget), so their text need not name it.
 */
const OWNED_BY_TARGET: ReadonlySet<string> = new Set(['Provenance', 'Binary']);

/**
 * Why a stored row's content is not the row's own, or undefined when it is. Ciphertext is
 * authenticated (pgcrypto's MDC) and made only by the server, so a ciphertext moved to another
 * row still decrypts: what it claims to be is compared with the row's key. `currentRow`: the
 * row is a current version, whose document must refer to the row's patient (history rows keep
 * the versions of a resource that moved to another patient, which name the earlier one).
 * Costs a scan of the text's first top-level keys (they come first in what the server writes)
 * and, for a patient's row, one substring search; no parse. Pure.
 */
export function integrityProblem(row: StoredRow, currentRow: boolean): string | undefined {
  if (row.json === null) return undefined;
  if (!row.sealed && isEncryptedType(row.resourceType)) return 'it must be stored encrypted but holds plaintext';
  const claimed = claimedIdentity(row.json);
  if (!claimed) return 'its content is not a JSON object';
  if (claimed.resourceType !== row.resourceType || claimed.id !== row.id) {
    return `its content is ${claimed.resourceType ?? '(no type)'}/${claimed.id ?? '(no id)'}, not the row's`;
  }
  if (row.versionId !== undefined && claimed.versionId !== undefined && claimed.versionId !== String(row.versionId)) {
    return `its content is version ${claimed.versionId}, not the row's ${row.versionId}`;
  }
  if (row.patientId !== null && currentRow) {
    if (row.resourceType === 'Patient') {
      if (row.id !== row.patientId) return `it is Patient/${row.id} filed under Patient/${row.patientId}`;
    } else if (!OWNED_BY_TARGET.has(row.resourceType) && !refersTo(row.json, row.patientId)) {
      return `its content does not refer to Patient/${row.patientId}, under whom it is filed`;
    }
  }
  return undefined;
}

/** Throws the 500 answered for a row that fails integrityProblem (the filter logs it as an error; the content is never served). */
export function assertIntegrity(row: StoredRow, currentRow: boolean): void {
  const problem = integrityProblem(row, currentRow);
  if (problem) throw new StoredIntegrityError(row, problem);
}

export class StoredIntegrityError extends OperationOutcomeError {
  constructor(
    readonly row: Pick<StoredRow, 'resourceType' | 'id' | 'patientId' | 'versionId'>,
    readonly problem: string,
  ) {
    // What is wrong goes to the log only (it may name another resource); the caller learns which record failed.
    super(500, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'fatal', code: 'exception', diagnostics: `The stored record ${row.resourceType}/${row.id} failed its integrity check and is not served` }],
    });
    this.message = `INTEGRITY: stored record ${row.resourceType}/${row.id}${row.patientId ? ` (patient ${row.patientId})` : ''} failed its integrity check: ${problem}`;
  }
}

/** Whether the text holds a local reference to the patient (`"Patient/x"` or `"Patient/x/_history/n"`, as ownership reads them). */
function refersTo(json: string, patientId: string): boolean {
  const needle = `"Patient/${patientId}`;
  for (let at = json.indexOf(needle); at >= 0; at = json.indexOf(needle, at + 1)) {
    const next = json.charCodeAt(at + needle.length);
    if (next === QUOTE || json.startsWith('/_history/', at + needle.length)) return true;
  }
  return false;
}

const QUOTE = 34;
const BACKSLASH = 92;

/**
 * The top-level resourceType and id and meta.versionId of a JSON object's text, or undefined when
 * the text is not an object. Stops as soon as it has all three: the server writes resourceType,
 * id and meta first (rows stored as jsonb before migration 20261128000700 have keys in order of
 * length, so id and meta come first there and resourceType after the shorter keys). Values it does not need are skipped, not parsed.
 */
export function claimedIdentity(text: string): ClaimedIdentity | undefined {
  const out: ClaimedIdentity = {};
  const ok = scanObject(text, skipWs(text, 0), (key, at) => {
    if (key === 'resourceType' || key === 'id') {
      const s = readString(text, at);
      if (s !== undefined) out[key] = s;
    } else if (key === 'meta' && text.charCodeAt(at) === 123) {
      scanObject(text, at, (k, vAt) => {
        if (k === 'versionId') out.versionId = readString(text, vAt);
        return out.versionId !== undefined;
      });
    }
    return out.resourceType !== undefined && out.id !== undefined && out.versionId !== undefined;
  });
  return ok >= 0 ? out : undefined;
}

/**
 * Visits the keys of the object at `start` (`visit` gets each key and where its value starts, and
 * returns true to stop). Returns the index after the object (or where it stopped), -1 when malformed.
 */
function scanObject(text: string, start: number, visit: (key: string, valueAt: number) => boolean): number {
  if (text.charCodeAt(start) !== 123) return -1;
  let i = skipWs(text, start + 1);
  if (text.charCodeAt(i) === 125) return i + 1;
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return -1;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return -1;
    const raw = text.slice(i + 1, keyEnd - 1);
    const key = raw.includes('\\') ? (JSON.parse(text.slice(i, keyEnd)) as string) : raw;
    i = skipWs(text, keyEnd);
    if (text.charCodeAt(i) !== 58) return -1;
    i = skipWs(text, i + 1);
    if (visit(key, i)) return i;
    i = valueEnd(text, i);
    if (i < 0) return -1;
    i = skipWs(text, i);
    const c = text.charCodeAt(i);
    if (c === 125) return i + 1;
    if (c !== 44) return -1;
    i = skipWs(text, i + 1);
  }
}

function readString(text: string, at: number): string | undefined {
  if (text.charCodeAt(at) !== QUOTE) return undefined;
  const end = stringEnd(text, at);
  if (end < 0) return undefined;
  const raw = text.slice(at + 1, end - 1);
  return raw.includes('\\') ? (JSON.parse(text.slice(at, end)) as string) : raw;
}

/** The index after the string whose opening quote is at `at`, or -1. */
function stringEnd(text: string, at: number): number {
  let from = at + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** The index after the value starting at `at` (strings and nested objects and arrays skipped whole), or -1. */
function valueEnd(text: string, at: number): number {
  const c = text.charCodeAt(at);
  if (c === QUOTE) return stringEnd(text, at);
  if (c === 123 || c === 91) {
    let depth = 0;
    for (let i = at; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch === QUOTE) {
        i = stringEnd(text, i) - 1;
        if (i < 0) return -1;
      } else if (ch === 123 || ch === 91) depth++;
      else if (ch === 125 || ch === 93) {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return -1;
  }
  let i = at;
  while (i < text.length) {
    const ch = text.charCodeAt(i);
    if (ch === 44 || ch === 125 || ch === 93 || ch === 32 || ch === 10 || ch === 13 || ch === 9) break;
    i++;
  }
  return i === at ? -1 : i;
}

function skipWs(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return i;
    i++;
  }
}
