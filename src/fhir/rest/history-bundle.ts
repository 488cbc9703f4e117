import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import type { Request } from 'express';
import type { StoredVersion } from '../store/resource-store.repository';
import { parseFhirJson } from '../json/fhir-json';

/** The history parameters this server applies (http.html#history; _format and _pretty shape the answer). */
const APPLIED = new Set(['_count', '_since', '_at', '_until', '_format', '_pretty']);

/** A `history` Bundle (newest first) with paging links. */
export function historyBundle(
  base: string,
  req: Request,
  result: { versions: StoredVersion[]; total: number },
  page: { count: number; offset: number },
): Bundle {
  const entry: BundleEntry[] = result.versions.map((v) => {
    const url = `${v.resourceType}/${v.id}`;
    // As the version was made; versions stored before that was kept: version 1 a POST, later ones PUTs.
    const method = v.request?.method ?? (v.deleted ? 'DELETE' : v.versionId === 1 ? 'POST' : 'PUT');
    const status = v.request?.status ?? (v.deleted ? 204 : v.versionId === 1 ? 201 : 200);
    const e: BundleEntry = {
      fullUrl: `${base}/${url}`,
      request: { method, url: method === 'POST' ? v.resourceType : url },
      response: {
        status: String(status),
        etag: `W/"${v.versionId}"`,
        lastModified: v.lastUpdated.toISOString(),
      },
    };
    if (v.json) e.resource = parseFhirJson(v.json) as Resource;
    return e;
  });
  const self = new URL(`${base}${req.path.replace(/^\/fhir/, '')}`);
  // The links carry the parameters history applies, and only those (an unsupported _list is not applied).
  for (const [k, v] of Object.entries(req.query)) {
    if (!APPLIED.has(k)) continue;
    for (const one of Array.isArray(v) ? v : [v]) self.searchParams.append(k, String(one));
  }
  // The pages after the first stop at the newest version the first one showed: versions made since
  // come before it in the order (newest first), and would push entries already seen onto the next page.
  const until = self.searchParams.get('_until') ?? (page.offset === 0 ? result.versions[0]?.lastUpdated.toISOString() : undefined);
  const link = (relation: string, offset: number) => {
    const u = new URL(self);
    if (relation !== 'self' && until) u.searchParams.set('_until', until);
    if (offset > 0) u.searchParams.set('_offset', String(offset));
    u.searchParams.set('_count', String(page.count));
    return { relation, url: u.toString() };
  };
  const links = [link('self', page.offset)];
  if (page.count > 0 && page.offset + page.count < result.total) links.push(link('next', page.offset + page.count));
  if (page.offset > 0) links.push(link('previous', Math.max(0, page.offset - page.count)));
  return { resourceType: 'Bundle', type: 'history', total: result.total, link: links, ...(entry.length ? { entry } : {}) };
}
