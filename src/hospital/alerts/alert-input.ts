import type { Flag } from '@medplum/fhirtypes';
import { GEOLOCATION_URL } from '../../fhir/projection/mappers/alert-state';

/**
 * How far ahead of the server's clock an alert's period.start (when it was raised) may be: the
 * clocks of the systems raising alerts differ a little; an alert raised later than that is not yet
 * raised, could not be acknowledged and would be missing from the open alerts, so it is refused.
 */
export const ALERT_CLOCK_SKEW_MS = 5 * 60_000;

/** Why the alert's period.start is too far in the future (undefined: it is not). */
export function raisedInTheFuture(flag: Flag, now: number): string | undefined {
  const start = flag.period?.start;
  const at = start ? Date.parse(start) : NaN;
  if (Number.isNaN(at) || at <= now + ALERT_CLOCK_SKEW_MS) return undefined;
  return `period.start ${start} is in the future (more than ${ALERT_CLOCK_SKEW_MS / 60_000} minutes after the server's time ${new Date(now).toISOString()}): an alert is raised when it is recorded; leave period.start out to have it stamped now`;
}

/** Why the alert's geolocation extension is not a place (undefined when absent or valid): latitude -90..90, longitude -180..180. */
export function badGeolocation(flag: Flag): string | undefined {
  const geo = flag.extension?.find((e) => e.url === GEOLOCATION_URL);
  if (!geo) return undefined;
  const lat = geo.extension?.find((e) => e.url === 'latitude')?.valueDecimal;
  const lon = geo.extension?.find((e) => e.url === 'longitude')?.valueDecimal;
  if (typeof lat !== 'number' || typeof lon !== 'number') return 'The geolocation extension needs both latitude and longitude (valueDecimal)';
  if (lat < -90 || lat > 90) return `The geolocation latitude ${lat} is not between -90 and 90`;
  if (lon < -180 || lon > 180) return `The geolocation longitude ${lon} is not between -180 and 180`;
  return undefined;
}
