import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, Reference, Resource } from '@medplum/fhirtypes';
import { pushIdentity, withIdentity } from './push-identity';

/** A local resource to send (as stored: with its id and our meta). */
export type LocalResource = Resource & { id: string };

export interface PushBundleInput {
  /** Our identifier system (ourSystem(config)). */
  system: string;
  /** What to send, each once, what others point at first (Device, RiskAssessment, Provenance, Task). */
  resources: LocalResource[];
  /** "<Type>/<localId>" -> remote id, for the resources pulled from this connection (the patient...). */
  remoteIds: ReadonlyMap<string, string>;
  /**
   * "<Type>/<localId>" of entries that only a Provenance points at by urn:uuid; other entries name
   * them by our identifier. For the model version's Device: a receiving server may tie
   * RiskAssessment.performer and Task.requester to its own model registry (this server does: its
   * recommendations and triage rows reference ai_models), where another server's model is unknown.
   */
  namedOnly?: ReadonlySet<string>;
}

const LOCAL_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** The bundle-internal name of a local resource: a urn:uuid derived from our identity, so a rebuild names it the same. Pure. */
export function entryUrn(system: string, resourceType: string, id: string): string {
  const h = createHash('sha256').update(`${system}|${resourceType}/${id}`).digest('hex');
  // Shaped as an RFC 4122 name-based UUID (version 5 nibble, variant 10xx).
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * The transaction Bundle that sends local resources to a remote FHIR server. Every entry is a
 * conditional create on our identity (identifier, or meta.tag for types without one), so sending
 * it again creates nothing twice; a resource past its first version is a conditional update on
 * that identity instead, so that the remote copy becomes the version sent. Our ids, versionId and lastUpdated are left out; meta.source
 * says where the resource came from ("<system>/<Type>/<id>", as a pull marks what it fetched),
 * which also keeps a remote running this server from taking it for its own AI's output.
 * References are rewritten: to an entry of the bundle -> its urn:uuid; to a resource pulled from
 * this connection -> the remote id; anything else local (and entries in `namedOnly`, but from a
 * Provenance) -> a logical reference (our identifier and the display only), never a literal one
 * the remote could not resolve. Pure.
 */
export function buildPushBundle(input: PushBundleInput): Bundle {
  const seen = new Set<string>();
  const resources = input.resources.filter((r) => {
    const key = `${r.resourceType}/${r.id}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const inBundle = new Map(resources.map((r) => [`${r.resourceType}/${r.id}`, entryUrn(input.system, r.resourceType, r.id)]));
  const rewrite = (from: string) => (ref: Reference): Reference => {
    const m = typeof ref.reference === 'string' ? LOCAL_REF.exec(ref.reference) : null;
    if (!m) return ref; // contained (#id), absolute URLs, urn: kept as they are
    const key = `${m[1]}/${m[2]}`;
    const urn = inBundle.get(key);
    if (urn && (from === 'Provenance' || !input.namedOnly?.has(key))) return { ...ref, reference: urn };
    const remoteId = input.remoteIds.get(key);
    if (remoteId) return { ...ref, reference: `${m[1]}/${remoteId}` };
    return { identifier: { system: input.system, value: key }, ...(ref.display ? { display: ref.display } : {}) };
  };
  const entry: BundleEntry[] = resources.map((r) => {
    const who = pushIdentity(input.system, r.resourceType, r.id);
    const { id: _id, meta, ...rest } = onlySentTargets(r, inBundle);
    const { versionId: _v, lastUpdated: _l, ...keptMeta } = meta ?? {};
    const outgoing = withIdentity({ ...rest, meta: { ...keptMeta, source: `${input.system}/${r.resourceType}/${r.id}` } } as Resource, input.system, r.id);
    return {
      fullUrl: inBundle.get(`${r.resourceType}/${r.id}`),
      resource: rewriteReferenceObjects(outgoing, rewrite(r.resourceType)),
      // A later version (a correction, a retraction, a decision) must reach the remote copy: a
      // conditional update on our identity, which also creates it where the remote has none. A
      // first version stays a conditional create, which never touches a copy already there.
      request: isLaterVersion(r) ? { method: 'PUT', url: `${r.resourceType}?${who.ifNoneExist}` } : { method: 'POST', url: r.resourceType, ifNoneExist: who.ifNoneExist },
    };
  });
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

/** Whether a local resource is past its first version. Pure. */
function isLaterVersion(r: LocalResource): boolean {
  const v = Number(r.meta?.versionId);
  return Number.isInteger(v) && v > 1;
}

/** Every Reference (an object with a string `reference`) at any depth, through `rewrite`. Pure. */
function rewriteReferenceObjects<T>(value: T, rewrite: (ref: Reference) => Reference): T {
  if (Array.isArray(value)) return value.map((v) => rewriteReferenceObjects(v, rewrite)) as T;
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const walked: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) walked[k] = k === 'reference' ? v : rewriteReferenceObjects(v, rewrite);
  return (typeof obj.reference === 'string' ? rewrite(walked as Reference) : walked) as T;
}

/**
 * A Provenance as sent: its targets among what this push sends. Locally it also names what the
 * AI wrote beside its output (the recommendation Task, the Condition's new version), which the
 * remote never receives; a target there would claim the AI made the remote's own copy. Pure.
 */
function onlySentTargets(r: LocalResource, inBundle: ReadonlyMap<string, string>): LocalResource {
  if (r.resourceType !== 'Provenance') return r;
  const targets = (r.target ?? []).filter((t) => {
    const m = typeof t.reference === 'string' ? LOCAL_REF.exec(t.reference) : null;
    return !!m && inBundle.has(`${m[1]}/${m[2]}`);
  });
  return targets.length ? { ...r, target: targets } : r;
}
