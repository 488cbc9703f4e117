import type { Bundle, BundleEntry, CapabilityStatement } from '@medplum/fhirtypes';

/** Whether the remote's CapabilityStatement offers the history of `type` (`history-type`). Pure. */
export function offersTypeHistory(cs: CapabilityStatement | undefined, type: string): boolean {
  return (cs?.rest ?? []).some(
    (rest) => (!rest.mode || rest.mode === 'server') && (rest.resource ?? []).some((r) => r.type === type && (r.interaction ?? []).some((i) => i.code === 'history-type')),
  );
}

const ENTRY_URL = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/** The remote id an entry of `type`'s history is about, or undefined. Pure. */
export function historyEntryId(entry: BundleEntry, type: string): string | undefined {
  if (entry.resource?.resourceType === type && entry.resource.id) return entry.resource.id;
  for (const url of [entry.request?.url, entry.fullUrl]) {
    const m = url ? ENTRY_URL.exec(url.split('?')[0]) : null;
    if (m && m[1] === type) return m[2];
  }
  return undefined;
}

/** Whether a history entry records a deletion: a DELETE, or (with no request given) a 410 without content. Pure. */
export function isDeletion(entry: BundleEntry): boolean {
  if (entry.request?.method) return entry.request.method === 'DELETE';
  return !entry.resource && /^410/.test(entry.response?.status ?? '');
}

/**
 * Reads one page of a type's history into `newest`: FHIR lists history newest first, so the first
 * entry seen for a remote id is its present state, deleted or not (a resource deleted and then
 * created again is not deleted). Returns the latest change time on the page, if any. Pure but for
 * `newest`, which it fills.
 */
export function readHistoryPage(bundle: Bundle, type: string, newest: Map<string, boolean>): Date | undefined {
  let latest: Date | undefined;
  for (const entry of bundle.entry ?? []) {
    const id = historyEntryId(entry, type);
    if (!id) continue;
    if (!newest.has(id)) newest.set(id, isDeletion(entry));
    const at = new Date(entry.response?.lastModified ?? entry.resource?.meta?.lastUpdated ?? '');
    if (!Number.isNaN(at.getTime()) && (!latest || at > latest)) latest = at;
  }
  return latest;
}
