/** SMART on FHIR scopes (v2 `.cruds` permissions, with the v1 `.read`/`.write`/`.*` forms). Pure. */

export type ScopeContext = 'patient' | 'user' | 'system';
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

export interface ResourceScope {
  context: ScopeContext;
  /** A resource type, or `*`. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
}

const V2 = /^(patient|user|system)\/([A-Za-z]+|\*)\.(c?r?u?d?s?)$/;
const V1 = /^(patient|user|system)\/([A-Za-z]+|\*)\.(read|write|\*)$/;
const V1_PERMISSIONS: Record<string, Permission[]> = { read: ['r', 's'], write: ['c', 'u', 'd'], '*': ['c', 'r', 'u', 'd', 's'] };

/** Scope strings come from a small set (the clients' grants): parsed once each, not on every request. */
const parsed = new Map<string, ResourceScope | undefined>();
const PARSED_MAX = 10_000;

/** The resource scope a scope string names, or undefined for other scopes (openid, launch, admin...). */
export function parseScope(scope: string): ResourceScope | undefined {
  if (parsed.has(scope)) return parsed.get(scope);
  const result = parseScopeText(scope);
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(scope, result);
  return result;
}

function parseScopeText(scope: string): ResourceScope | undefined {
  const v2 = V2.exec(scope);
  if (v2 && v2[3]) {
    return { context: v2[1] as ScopeContext, resourceType: v2[2], permissions: new Set(v2[3].split('') as Permission[]) };
  }
  const v1 = V1.exec(scope);
  if (v1) return { context: v1[1] as ScopeContext, resourceType: v1[2], permissions: new Set(V1_PERMISSIONS[v1[3]]) };
  return undefined;
}

/** Whether the scopes grant `permission` on `resourceType` (in any context, or only in `context` when given). */
export function allows(scopes: readonly string[], resourceType: string, permission: Permission, context?: ScopeContext): boolean {
  return scopes.some((s) => {
    const p = parseScope(s);
    return !!p && (context === undefined || p.context === context) && (p.resourceType === '*' || p.resourceType === resourceType) && p.permissions.has(permission);
  });
}

/** Whether `wanted` grants nothing that one of `held` does not (so a client may ask for it). */
export function isCoveredBy(wanted: string, held: readonly string[]): boolean {
  if (held.includes(wanted)) return true;
  const w = parseScope(wanted);
  if (!w) return false;
  return held.some((h) => {
    const p = parseScope(h);
    return (
      !!p &&
      p.context === w.context &&
      (p.resourceType === '*' || p.resourceType === w.resourceType) &&
      [...w.permissions].every((perm) => p.permissions.has(perm))
    );
  });
}

/** True when every resource scope the token holds is patient-level: it sees one patient's compartment only. */
export function isPatientContext(scopes: readonly string[]): boolean {
  const resourceScopes = scopes.map(parseScope).filter((s): s is ResourceScope => !!s);
  return resourceScopes.length > 0 && resourceScopes.every((s) => s.context === 'patient');
}
