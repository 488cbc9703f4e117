import type { Bundle, Resource } from '@medplum/fhirtypes';

/**
 * What a search answer must look like to be taken as a page (R4 search.html, bundle.html): a
 * Bundle of type searchset, `entry` (if any) an array of objects whose `resource` (if any) is a
 * resource, and `link` (if any) an array of objects. Anything else (an OperationOutcome or a bare
 * resource answered with 200, a malformed Bundle) is the reason it is not, else undefined. Pure.
 */
export function searchPageProblem(body: unknown): string | undefined {
  if (!isObject(body)) return `the answer is not a JSON object (${describe(body)})`;
  if (body.resourceType !== 'Bundle') {
    const said = body.resourceType === 'OperationOutcome' ? issuesOf(body) : '';
    return `the answer is ${typeof body.resourceType === 'string' ? `${/^[AEIOU]/.test(body.resourceType) ? 'an' : 'a'} ${body.resourceType.slice(0, 64)}` : 'not a resource'}, not a searchset Bundle${said ? ` (${said})` : ''}`;
  }
  if (body.type !== 'searchset') return `the answer is a Bundle of type ${JSON.stringify(body.type ?? null).slice(0, 64)}, not searchset`;
  if (body.entry !== undefined) {
    if (!Array.isArray(body.entry)) return `Bundle.entry is ${describe(body.entry)}, not an array`;
    const bad = body.entry.findIndex((e) => !isObject(e) || (e.resource !== undefined && !(isObject(e.resource) && typeof e.resource.resourceType === 'string')));
    if (bad >= 0) return `Bundle.entry[${bad}] is ${isObject(body.entry[bad]) ? 'an entry whose resource is not a resource' : describe(body.entry[bad])}, not an entry`;
  }
  if (body.link !== undefined && !(Array.isArray(body.link) && body.link.every(isObject))) return 'Bundle.link is not an array of links';
  return undefined;
}

/** The page's `next` link, if any. */
export function nextLinkOf(bundle: Bundle): string | null {
  const url = bundle.link?.find((l) => l.relation === 'next')?.url;
  return typeof url === 'string' && url ? url : null;
}

/** The resources a search page matched (entries with search.mode match, or no mode). */
export function matchesOf(bundle: Bundle): Resource[] {
  return (bundle.entry ?? []).filter((e) => e.resource && (!e.search?.mode || e.search.mode === 'match')).map((e) => e.resource as Resource);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function issuesOf(outcome: Record<string, unknown>): string {
  const issues = Array.isArray(outcome.issue) ? outcome.issue : [];
  return issues
    .map((i) => (isObject(i) ? (i.diagnostics ?? (isObject(i.details) ? i.details.text : undefined)) : undefined))
    .filter((t): t is string => typeof t === 'string')
    .join('; ')
    .slice(0, 300);
}
