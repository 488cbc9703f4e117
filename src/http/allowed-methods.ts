import type { Request } from 'express';
import { OperationOutcomeError } from '../fhir/operation-outcome';

interface RouteLayer {
  match(path: string): unknown;
  route?: { methods: Record<string, boolean> };
}

const ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** /fhir/[type]/[id]: a last segment that is neither an operation ($name) nor _search/_history. */
const FHIR_INSTANCE = /^\/fhir\/[A-Z][A-Za-z]*\/(?![$_])[^/]+\/?$/;

/**
 * The methods the application's routes answer on this request's path, read from Express's router
 * (so they cannot drift from the controllers): for each method, the first route that takes the
 * path and the method, as Express itself would choose it, unless that route is a catch-all (`@All`,
 * the ones answering 405: Nest registers them method by method, and no route of this application
 * takes TRACE, so a route that does is one). GET implies HEAD.
 */
export function allowedMethods(req: Request): string[] {
  const stack = (req.app as unknown as { router?: { stack?: RouteLayer[] } }).router?.stack ?? [];
  const matching = stack.filter((layer) => layer.route && layer.match(req.path));
  const allowed = ORDER.filter((method) => {
    const first = matching.find((layer) => layer.route?.methods[method.toLowerCase()] || layer.route?.methods._all);
    return first !== undefined && !first.route?.methods._all && !first.route?.methods.trace;
  });
  if (allowed.includes('GET') && !allowed.includes('HEAD')) allowed.splice(1, 0, 'HEAD');
  // POST /fhir/[type]/[id] reaches the route of type-level operations (`:type/:operation`), which
  // takes only `$name`: an instance takes no POST.
  if (FHIR_INSTANCE.test(req.path)) return allowed.filter((m) => m !== 'POST');
  return allowed;
}

/** 405 Method Not Allowed, with the methods the path does answer (the filter sends them as `Allow`). */
export function methodNotAllowed(req: Request, allow: string[] = allowedMethods(req)): OperationOutcomeError {
  const error = OperationOutcomeError.of(405, 'not-supported', `${req.method} is not allowed on ${req.path}; allowed: ${allow.join(', ')}`);
  return Object.assign(error, { allow });
}
