import type { Resource } from '@medplum/fhirtypes';
import { tryTypeInfo } from '../definitions/element-types';
import { parseLocalReference } from '../search/search-values';
import { carryLexemes } from '../json/lexemes';

type Resolve = (value: string, path: string) => string | undefined;

/**
 * What a link may be rewritten to: `reference` for every `reference` string (at any depth,
 * contained resources included) and the narrative's links; `uri`, when given, for the values of
 * elements typed uri, url, canonical, oid or uuid (Attachment.url naming a Binary entry, say), as
 * the transaction rules ask (http.html#trules: "whether they are found in the resource ids,
 * resource references, elements of type uri, url, oid, uuid, and <a href="" & <img src="" in the
 * narrative"). Each returns the new value, or undefined to keep it.
 */
export interface LinkResolvers {
  reference: Resolve;
  uri?: Resolve;
}

export interface WalkOptions {
  /**
   * Leave the entries of a Bundle resource (a document, a message) as they are: their references
   * point at that Bundle's own entries (bundle.html#references), not at those of a transaction that
   * carries it, so the transaction's urn:uuid and conditional references stop at its edge.
   */
  skipBundleEntries?: boolean;
}

/** The primitive types whose values name other things by URI. */
const URI_TYPES = new Set(['uri', 'url', 'canonical', 'oid', 'uuid']);

/**
 * Rewrites the links of a resource through the resolvers. Element types come from the R4
 * definitions (loaded by then), followed only when `uri` is given. Returns a new resource; the
 * input is left untouched. Pure.
 */
export function rewriteReferences<T extends Resource>(resource: T, resolve: Resolve | LinkResolvers, options: WalkOptions = {}): T {
  const resolvers = typeof resolve === 'function' ? { reference: resolve } : resolve;
  return walk(resource, resource.resourceType, undefined, resolvers, options) as T;
}

function walk(value: unknown, path: string, type: string | undefined, r: LinkResolvers, o: WalkOptions): unknown {
  if (Array.isArray(value)) {
    const items = value.map((v, i) => walk(v, `${path}[${i}]`, type, r, o));
    carryLexemes(value, items);
    return items;
  }
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  const ownType = typeof object.resourceType === 'string' ? object.resourceType : type;
  const elements = r.uri && ownType ? tryTypeInfo(ownType)?.byName : undefined;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(object)) {
    const element = elements?.get(key);
    if (o.skipBundleEntries && key === 'entry' && object.resourceType === 'Bundle') {
      out[key] = v;
    } else if (key === 'reference' && typeof v === 'string') {
      out[key] = r.reference(v, `${path}.reference`) ?? v;
    } else if (key === 'div' && typeof v === 'string' && path.endsWith('.text')) {
      out[key] = rewriteNarrativeLinks(v, r.reference, `${path}.div`);
    } else if (r.uri && element && URI_TYPES.has(element.type)) {
      out[key] = rewriteUris(v, `${path}.${key}`, r.uri);
    } else {
      out[key] = walk(v, `${path}.${key}`, element && element.kind !== 'primitive' ? element.type : undefined, r, o);
    }
  }
  carryLexemes(object, out); // decimals keep their lexemes (json/lexemes.ts)
  return out;
}

function rewriteUris(value: unknown, path: string, resolve: Resolve): unknown {
  if (Array.isArray(value)) return value.map((v, i) => rewriteUris(v, `${path}[${i}]`, resolve));
  return typeof value === 'string' ? (resolve(value, path) ?? value) : value;
}

/** `href`/`src` attributes of the XHTML narrative that point at bundle entries. */
function rewriteNarrativeLinks(div: string, resolve: Resolve, path: string): string {
  if (!div.includes('urn:uuid:') && !div.includes('urn:oid:')) return div;
  return div.replace(/(href|src)="(urn:(?:uuid|oid):[^"]+)"/g, (whole, attr: string, ref: string) => {
    const resolved = resolve(ref, path);
    return resolved ? `${attr}="${resolved}"` : whole;
  });
}

/** Every reference string in a resource, with its path. Pure. */
export function collectReferences(resource: Resource, options: WalkOptions = {}): Array<{ reference: string; path: string }> {
  const found: Array<{ reference: string; path: string }> = [];
  rewriteReferences(
    resource,
    (reference, path) => {
      found.push({ reference, path });
      return undefined;
    },
    options,
  );
  return found;
}

/**
 * The resource with its absolute references to this server's own base (`https://host/fhir/Patient/p1`)
 * made relative (`Patient/p1`): the same resource (references.html: a reference relative to the
 * server's base), and the form search, compartments and _include match. Returns the resource
 * itself when it has none. Pure.
 */
export function withLocalReferences<T extends Resource>(resource: T, base: string | undefined): T {
  if (!base) return resource;
  const prefix = `${base.replace(/\/+$/, '')}/`;
  let changed = false;
  const out = rewriteReferences(resource, (reference) => {
    if (!reference.startsWith(prefix)) return undefined;
    const rest = reference.slice(prefix.length);
    if (!parseLocalReference(rest)) return undefined;
    changed = true;
    return rest;
  });
  return changed ? out : resource;
}
