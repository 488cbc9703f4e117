import { tryGetDataType, type TypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';

/** One dotted path of a search expression, resolved against the R4 definitions: its steps and the type of what it ends on. */
export interface SimplePath {
  steps: string[];
  type: string;
  /** `.where(resolve() is T)` after the path: only references that resolve (as the FHIRPath engine resolves them) to a T. */
  resolvesTo?: string;
  /** `.where(name='literal')` after the path: only elements whose primitive `name` is that literal. */
  where?: { name: string; value: string };
}

/** A plain path, optionally followed by one of the two filters R4's search expressions use most. */
const PART = /^([A-Za-z]+(?:\.[a-z][A-Za-z]*)+)(?:\.where\((?:resolve\(\) is ([A-Z][A-Za-z]*)|([a-z][A-Za-z]*)='([^'\\]*)')\))?$/;
/** Primitive types whose JSON value is the string a FHIRPath string literal equals. */
const STRING_PRIMITIVES = new Set(['code', 'string', 'uri', 'url', 'canonical', 'id']);

/**
 * Most R4 search expressions are unions of plain paths (`AuditEvent.agent.who | AuditEvent.entity.what`),
 * some with a filter: `Observation.subject.where(resolve() is Patient)` (every `patient` parameter),
 * `Patient.telecom.where(system='email')`.
 * Such an expression is compiled here into its steps and the one type each path ends on, from the
 * StructureDefinitions, so that it is evaluated by walking the JSON instead of through the
 * general FHIRPath engine (several times faster: the engine resolves every property's type on
 * every step of every resource). Anything else — functions, casts, choice elements (`value[x]`),
 * an element with several types, a path the definitions do not know — is left to the engine:
 * undefined. Pure (reads the loaded definitions).
 */
export function compileSimplePaths(expression: string, resourceType: string): SimplePath[] | undefined {
  const parts = expression.split('|').map((p) => p.trim());
  const paths: SimplePath[] = [];
  for (const part of parts) {
    const match = PART.exec(part);
    if (!match) return undefined;
    const [, path, resolvesTo, whereName, whereValue] = match;
    const [root, ...steps] = path.split('.');
    if (root !== resourceType) return undefined;
    let type = root;
    for (const step of steps) {
      const element = tryGetDataType(type)?.elements?.[step];
      if (!element || element.type?.length !== 1) return undefined;
      type = element.type[0].code;
      if (!type || type === 'Resource' || type.startsWith('http')) return undefined;
    }
    if (resolvesTo) {
      if (type !== 'Reference') return undefined;
      paths.push({ steps, type, resolvesTo });
    } else if (whereName) {
      const element = tryGetDataType(type)?.elements?.[whereName];
      if (element?.type?.length !== 1 || !STRING_PRIMITIVES.has(element.type[0].code)) return undefined;
      paths.push({ steps, type, where: { name: whereName, value: whereValue } });
    } else paths.push({ steps, type });
  }
  return paths.length ? paths : undefined;
}

/** The values of compiled paths on a resource, as the FHIRPath engine gives them (arrays flattened, absent and null values dropped). Pure. */
export function evalSimplePaths(paths: readonly SimplePath[], resource: Resource): TypedValue[] {
  const out: TypedValue[] = [];
  for (const path of paths) {
    let current: unknown[] = [resource];
    for (const step of path.steps) {
      const next: unknown[] = [];
      for (const node of current) {
        const v = (node as Record<string, unknown>)[step];
        if (v === undefined || v === null) continue;
        if (Array.isArray(v)) {
          for (const item of v) if (item !== undefined && item !== null) next.push(item);
        } else next.push(v);
      }
      current = next;
      if (!current.length) break;
    }
    for (const value of current) {
      if (path.resolvesTo !== undefined && resolvedType(value) !== path.resolvesTo) continue;
      if (path.where && (value as Record<string, unknown>)[path.where.name] !== path.where.value) continue;
      out.push({ type: path.type, value });
    }
  }
  return out;
}

/**
 * The resource type a Reference resolves to as the FHIRPath engine's `resolve()` (Medplum's) names it
 * without reading anything: the type of a contained `resource`, else the part of `reference` (or of
 * `type?identifier=...` for a logical reference) before its first `?` or, failing that, its first
 * `/` (so an absolute URL resolves to `http:`, and `#contained` to nothing).
 */
function resolvedType(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const ref = value as { resource?: { resourceType?: string }; reference?: string; type?: string; identifier?: { system?: string; value?: string } };
  if (ref.resource) return ref.resource.resourceType;
  const text = ref.reference ? ref.reference : ref.type && ref.identifier ? `${ref.type}?identifier=${ref.identifier.system}|${ref.identifier.value}` : undefined;
  if (text?.includes('?')) return text.split('?')[0];
  if (text?.includes('/')) return text.split('/')[0];
  return undefined;
}
