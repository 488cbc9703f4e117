import type { FhirRequest } from './fhir-request';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/**
 * Posts a transaction Bundle of POST entries with urn:uuid fullUrls and returns its resources as
 * the server stored them, computed from the bundle (not read back): each with the id from its
 * entry's response location and every reference to another entry's fullUrl rewritten. What search
 * tests compute their expectations from.
 */
export async function postTransaction(api: FhirRequest, bundle: Json): Promise<Json[]> {
  const res = await api.post('', bundle);
  if (res.status !== 200) throw new Error(`transaction answered ${res.status}: ${JSON.stringify(res.body).slice(0, 2000)}`);
  const ids = new Map<string, string>();
  (bundle.entry as Json[]).forEach((e, i) => {
    const location = res.body.entry[i]?.response?.location as string;
    const m = /^([A-Za-z]+)\/([A-Za-z0-9\-.]+)\/_history\/1$/.exec(location ?? '');
    if (!m || m[1] !== e.resource.resourceType) throw new Error(`entry ${i}: unexpected location ${location}`);
    ids.set(e.fullUrl, `${m[1]}/${m[2]}`);
  });
  return (bundle.entry as Json[]).map((e) => {
    const r = JSON.parse(JSON.stringify(e.resource), (k, v: unknown) => (k === 'reference' && typeof v === 'string' && ids.has(v) ? ids.get(v) : v)) as Json;
    r.id = (ids.get(e.fullUrl) as string).split('/')[1];
    return r;
  });
}

/** Case, accents and runs of white space do not matter to string search (the specification's rule, written apart from the server's). */
/** String search's rule: no accents, case folded as Unicode's full case mapping does (ß is ss, every sigma σ), white space collapsed. */
export const norm = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toUpperCase().toLowerCase().replace(/ς/g, 'σ').replace(/\s+/g, ' ').trim();
