import type { Resource } from '@medplum/fhirtypes';

/**
 * Rewrites the references of a resource (every `reference` string, at any depth, contained
 * resources included, and links in the narrative) through `resolve`, which returns the new
 * reference or undefined to keep it. Returns a new resource; the input is left untouched. Pure.
 */
export function rewriteReferences<T extends Resource>(resource: T, resolve: (reference: string, path: string) => string | undefined): T {
  return walk(resource, resource.resourceType, resolve) as T;
}

function walk(value: unknown, path: string, resolve: (reference: string, path: string) => string | undefined): unknown {
  if (Array.isArray(value)) return value.map((v, i) => walk(v, `${path}[${i}]`, resolve));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'reference' && typeof v === 'string') {
      out[key] = resolve(v, `${path}.reference`) ?? v;
    } else if (key === 'div' && typeof v === 'string' && path.endsWith('.text')) {
      out[key] = rewriteNarrativeLinks(v, resolve, `${path}.div`);
    } else {
      out[key] = walk(v, `${path}.${key}`, resolve);
    }
  }
  return out;
}

/** `href`/`src` attributes of the XHTML narrative that point at bundle entries. */
function rewriteNarrativeLinks(div: string, resolve: (reference: string, path: string) => string | undefined, path: string): string {
  if (!div.includes('urn:uuid:') && !div.includes('urn:oid:')) return div;
  return div.replace(/(href|src)="(urn:(?:uuid|oid):[^"]+)"/g, (whole, attr: string, ref: string) => {
    const resolved = resolve(ref, path);
    return resolved ? `${attr}="${resolved}"` : whole;
  });
}

/** Every reference string in a resource, with its path. Pure. */
export function collectReferences(resource: Resource): Array<{ reference: string; path: string }> {
  const found: Array<{ reference: string; path: string }> = [];
  rewriteReferences(resource, (reference, path) => {
    found.push({ reference, path });
    return undefined;
  });
  return found;
}
