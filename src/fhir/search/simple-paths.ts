import { tryGetDataType, type TypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';

/** One dotted path of a search expression, resolved against the R4 definitions: its steps and the type of what it ends on. */
export interface SimplePath {
  steps: string[];
  type: string;
}

/**
 * Most R4 search expressions are unions of plain paths (`AuditEvent.agent.who | AuditEvent.entity.what`).
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
    if (!/^[A-Za-z]+(\.[a-z][A-Za-z]*)+$/.test(part)) return undefined;
    const [root, ...steps] = part.split('.');
    if (root !== resourceType) return undefined;
    let type = root;
    for (const step of steps) {
      const element = tryGetDataType(type)?.elements?.[step];
      if (!element || element.type?.length !== 1) return undefined;
      type = element.type[0].code;
      if (!type || type === 'Resource' || type.startsWith('http')) return undefined;
    }
    paths.push({ steps, type });
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
    for (const value of current) out.push({ type: path.type, value });
  }
  return out;
}
