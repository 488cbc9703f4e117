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

/** Per remote id, its newest history entry so far: whether it is a deletion, and when and which version it was. */
export type RemoteHistory = Map<string, { deleted: boolean; at?: number; version?: number }>;

/**
 * Reads one page of a type's history into `newest`: per remote id the newest entry decides
 * whether it is deleted now (a resource deleted and then created again is not). Newest is the
 * latest change time, then the highest version; without either, the first entry seen (FHIR lists
 * history newest first). Returns the latest change time on the page, if any. Pure but for
 * `newest`, which it fills.
 */
export function readHistoryPage(bundle: Bundle, type: string, newest: RemoteHistory): Date | undefined {
  let latest: Date | undefined;
  for (const entry of bundle.entry ?? []) {
    const id = historyEntryId(entry, type);
    if (!id) continue;
    const time = new Date(entry.response?.lastModified ?? entry.resource?.meta?.lastUpdated ?? '').getTime();
    const at = Number.isNaN(time) ? undefined : time;
    const version = versionOf(entry);
    const seen = newest.get(id);
    if (!seen || isNewer(at, version, seen)) newest.set(id, { deleted: isDeletion(entry), at, version });
    if (at !== undefined && (!latest || at > latest.getTime())) latest = new Date(at);
  }
  return latest;
}

function isNewer(at: number | undefined, version: number | undefined, seen: { at?: number; version?: number }): boolean {
  if (at !== undefined && seen.at !== undefined && at !== seen.at) return at > seen.at;
  return version !== undefined && seen.version !== undefined && version > seen.version;
}

/** The version an entry records: the resource's versionId, else the ETag (`W/"3"`), else `/_history/3` in the request URL. */
function versionOf(entry: BundleEntry): number | undefined {
  const raw = entry.resource?.meta?.versionId ?? /^(?:W\/)?"?([^"]+)"?$/.exec(entry.response?.etag ?? '')?.[1] ?? /\/_history\/([^/]+)$/.exec(entry.request?.url ?? '')?.[1];
  const n = Number(raw);
  return raw !== undefined && Number.isInteger(n) ? n : undefined;
}
