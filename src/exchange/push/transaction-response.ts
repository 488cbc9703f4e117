import type { Bundle } from '@medplum/fhirtypes';

/**
 * Why a remote's answer to a transaction is not a valid transaction-response to `sent`, or
 * undefined (R4 http.html#transaction-response: a Bundle of type transaction-response with one
 * entry per request entry, in the same order, each with `response.status`; a transaction succeeds
 * or fails as a whole, so every status is 2xx). Pure.
 */
export function transactionResponseProblem(sent: Bundle, answer: unknown): string | undefined {
  const expected = sent.entry?.length ?? 0;
  const a = answer as Partial<Bundle> | null | undefined;
  if (!a || typeof a !== 'object' || a.resourceType !== 'Bundle') return `the answer is not a Bundle (${typeof a?.resourceType === 'string' ? a.resourceType.slice(0, 64) : typeof answer})`;
  if (a.type !== 'transaction-response') return `the answer is a Bundle of type ${JSON.stringify(a.type ?? null).slice(0, 64)}, not transaction-response`;
  const entries = a.entry ?? [];
  if (!Array.isArray(entries)) return 'Bundle.entry is not an array';
  if (entries.length !== expected) return `${entries.length} response entries for ${expected} request entries`;
  const bad = entries.findIndex((e) => typeof e?.response?.status !== 'string' || !/^2\d\d\b/.test(e.response.status));
  if (bad >= 0) {
    const status = entries[bad]?.response?.status;
    return `response entry ${bad} has ${typeof status === 'string' ? `status ${JSON.stringify(status.slice(0, 64))}, not a success` : 'no status'}`;
  }
  return undefined;
}
