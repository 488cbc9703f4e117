import type { Extension, Flag, Reference } from '@medplum/fhirtypes';

/** The code of an emergency alert Flag. */
export const ALERT_SYSTEM = 'urn:fhir-ai-server:alert';
/** Who acknowledged the alert and when (complex extension: `by` valueReference, `at` valueDateTime). */
export const ALERT_ACKNOWLEDGEMENT_URL = 'https://fhir-ai-server.dev/StructureDefinition/alert-acknowledgement';
/** Who resolved the alert (complex extension: `by` valueReference, `at` valueDateTime = period.end). */
export const ALERT_RESOLUTION_URL = 'https://fhir-ai-server.dev/StructureDefinition/alert-resolution';
/** FHIR core geolocation extension (latitude, longitude valueDecimal). */
export const GEOLOCATION_URL = 'http://hl7.org/fhir/StructureDefinition/geolocation';

export type AlertStatus = 'raised' | 'acknowledged' | 'resolved';

export interface AlertDecision {
  by?: Reference;
  at?: string;
}

/** What an emergency-alert Flag says about its lifecycle. */
export interface AlertState {
  status: AlertStatus;
  raisedAt?: string;
  acknowledged?: AlertDecision;
  resolved?: AlertDecision;
  geolocation?: { latitude: number; longitude: number };
}

export function isEmergencyAlert(flag: Flag | undefined): boolean {
  return !!flag?.code?.coding?.some((c) => c.system === ALERT_SYSTEM && c.code === 'emergency');
}

function decision(ext: Extension | undefined): AlertDecision | undefined {
  if (!ext) return undefined;
  const by = ext.extension?.find((e) => e.url === 'by')?.valueReference;
  const at = ext.extension?.find((e) => e.url === 'at')?.valueDateTime;
  return { ...(by ? { by } : {}), ...(at ? { at } : {}) };
}

export function decisionExtension(url: string, d: Required<AlertDecision>): Extension {
  return { url, extension: [{ url: 'by', valueReference: d.by }, { url: 'at', valueDateTime: d.at }] };
}

/** Who decided, as one string for a column: the reference, else its display. */
export function deciderLabel(d: AlertDecision | undefined): string | null {
  return d?.by?.reference ?? d?.by?.display ?? null;
}

/**
 * The lifecycle of an alert Flag: inactive is resolved (at period.end, by the resolution extension's
 * `by`), active with an acknowledgement extension is acknowledged, active without is raised.
 */
export function alertState(flag: Flag): AlertState {
  const ext = flag.extension ?? [];
  const acknowledged = decision(ext.find((e) => e.url === ALERT_ACKNOWLEDGEMENT_URL));
  const resolution = decision(ext.find((e) => e.url === ALERT_RESOLUTION_URL));
  const geo = ext.find((e) => e.url === GEOLOCATION_URL);
  const lat = geo?.extension?.find((e) => e.url === 'latitude')?.valueDecimal;
  const lon = geo?.extension?.find((e) => e.url === 'longitude')?.valueDecimal;
  const resolved = flag.status === 'inactive' ? { ...resolution, ...(flag.period?.end ? { at: flag.period.end } : {}) } : undefined;
  return {
    status: flag.status === 'inactive' ? 'resolved' : acknowledged ? 'acknowledged' : 'raised',
    raisedAt: flag.period?.start,
    ...(acknowledged ? { acknowledged } : {}),
    ...(resolved ? { resolved } : {}),
    ...(typeof lat === 'number' && typeof lon === 'number' ? { geolocation: { latitude: lat, longitude: lon } } : {}),
  };
}

/** Seconds from `from` to `to` (both FHIR dateTimes), or null when either is missing or the order is wrong. */
export function secondsBetween(from: string | undefined, to: string | undefined): number | null {
  if (!from || !to) return null;
  const a = Date.parse(from);
  const b = Date.parse(to);
  if (Number.isNaN(a) || Number.isNaN(b) || b < a) return null;
  return Math.round(b - a) / 1000;
}
