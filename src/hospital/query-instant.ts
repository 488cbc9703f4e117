import { badRequest } from '../fhir/operation-outcome';

/**
 * A query parameter of the modules' APIs that is a point in time: a date (midnight UTC) or an
 * instant with a time zone (`Z` or `±hh:mm`). An instant without one would be read in the server's
 * own zone, which a client cannot know: 400, as anything else that is not a time. Pure.
 */
export function queryInstant(value: unknown, name: string): number {
  const t = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(value) ? Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value) : NaN;
  if (Number.isNaN(t)) throw badRequest(`${name} must be a date (YYYY-MM-DD) or an instant with a time zone (e.g. 2026-11-27T09:00:00Z)`, [name]);
  return t;
}
