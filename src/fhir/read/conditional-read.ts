/** What a client says it holds: `If-None-Match` / `If-Modified-Since` (REST), or a bundle entry's `ifNoneMatch` / `ifModifiedSince`. */
export interface ClientCopy {
  ifNoneMatch?: string;
  ifModifiedSince?: string;
}

/**
 * Conditional read (http.html#cread, RFC 7232 §6): whether the client's copy is the current
 * version. If-None-Match decides when present (weak comparison, `*` for any version); else
 * If-Modified-Since (an HTTP date, or an instant in a bundle entry), to the second. Pure.
 */
export function clientCopyIsCurrent(copy: ClientCopy, current: { versionId: number; lastUpdated: Date }): boolean {
  if (copy.ifNoneMatch !== undefined) {
    if (copy.ifNoneMatch.trim() === '*') return true;
    return copy.ifNoneMatch.split(',').some((tag) => /^\s*(?:W\/)?"([^"]*)"\s*$/.exec(tag)?.[1] === String(current.versionId));
  }
  if (copy.ifModifiedSince === undefined) return false;
  const t = Date.parse(copy.ifModifiedSince);
  return !Number.isNaN(t) && Math.floor(current.lastUpdated.getTime() / 1000) * 1000 <= t;
}
