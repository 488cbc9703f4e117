import { Injectable } from '@nestjs/common';
import { badRequest, gone, notFound } from '../operation-outcome';
import { ResourceStore, type HistoryQuery, type StoredVersion } from '../store/resource-store.repository';
import { dateRange } from '../search/search-values';

/** Reads: current version, a given version, history. Deleted resources answer 410. */
@Injectable()
export class ResourceReadService {
  constructor(private readonly store: ResourceStore) {}

  /** `check` may refuse a resource the caller may not see (throwing as if it did not exist). */
  async read(resourceType: string, id: string, check: VisibilityCheck = () => undefined): Promise<StoredVersion & { json: string }> {
    const current = await this.store.readCurrent(resourceType, id);
    if (!current) throw notFound(`${resourceType}/${id} is not known`);
    check(current);
    if (current.deleted || current.json === null) throw gone(`${resourceType}/${id} was deleted (version ${current.versionId})`);
    return current as StoredVersion & { json: string };
  }

  async vread(resourceType: string, id: string, versionId: string, check: VisibilityCheck = () => undefined): Promise<StoredVersion & { json: string }> {
    if (!/^\d{1,9}$/.test(versionId)) throw notFound(`${resourceType}/${id} has no version "${versionId}"`);
    const version = await this.store.readVersion(resourceType, id, Number(versionId));
    if (!version) {
      const exists = await this.store.readCurrent(resourceType, id);
      if (exists) check(exists);
      throw notFound(exists ? `${resourceType}/${id} has no version ${versionId}` : `${resourceType}/${id} is not known`);
    }
    check(version);
    if (version.deleted || version.json === null) throw gone(`${resourceType}/${id} version ${versionId} is a deletion`);
    return version as StoredVersion & { json: string };
  }

  /**
   * `confined`: the caller is a patient-context token, so a patient's resource lists only the
   * versions filed under its patient (not those it brought along from another owner), and the
   * total counts only those.
   */
  async history(query: HistoryQuery, check: VisibilityCheck = () => undefined, confined = false): Promise<{ versions: StoredVersion[]; total: number }> {
    if (query.id && query.resourceType) {
      const exists = await this.store.readCurrent(query.resourceType, query.id);
      if (!exists) throw notFound(`${query.resourceType}/${query.id} is not known`);
      check(exists);
      if (confined && exists.patientId) query = { ...query, patientId: exists.patientId };
    }
    return this.store.history(query);
  }
}

/** Throws when the caller may not see the resource. */
export type VisibilityCheck = (v: StoredVersion) => void;

/** Parses the history parameters _count, _since (an instant), _at (a dateTime) and the paging offset. */
export function historyParams(q: Record<string, unknown>, maxCount = 1000): Pick<HistoryQuery, 'count' | 'offset' | 'since' | 'at' | 'until'> {
  const one = (name: string): string | undefined => {
    const v = q[name];
    if (v === undefined) return undefined;
    if (Array.isArray(v) || typeof v !== 'string') throw badRequest(`${name} may be given only once`);
    return v;
  };
  const int = (name: string, fallback: number, max: number): number => {
    const v = one(name);
    if (v === undefined) return fallback;
    if (!/^\d{1,9}$/.test(v)) throw badRequest(`${name} must be a non-negative integer, got "${v}"`);
    return Math.min(Number(v), max);
  };
  const instant = (name: string): Date | undefined => {
    const v = one(name);
    if (v === undefined) return undefined;
    const ok = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/.test(v);
    const d = new Date(v);
    if (!ok || Number.isNaN(d.getTime())) throw badRequest(`${name} must be a FHIR instant such as 2024-01-31T12:00:00Z, got "${v}"`);
    return d;
  };
  // _at is a dateTime: a year, a day or an instant, each standing for the period it covers.
  const atText = one('_at');
  const atRange = atText === undefined ? undefined : dateRange(atText);
  if (atText !== undefined && !atRange) throw badRequest(`_at must be a FHIR dateTime such as 2024, 2024-01-31 or 2024-01-31T12:00:00Z, got "${atText}"`);
  const at = atRange && { low: new Date(atRange.low), high: new Date(atRange.high) };
  return { count: int('_count', 50, maxCount), offset: int('_offset', 0, 1e9), since: instant('_since'), at, until: instant('_until') };
}
