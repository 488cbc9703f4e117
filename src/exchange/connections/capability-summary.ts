import type { CapabilityStatement, OperationOutcome } from '@medplum/fhirtypes';
import { outcomeOf } from '../remote-fhir.client';

/** What a check learnt from the remote's CapabilityStatement. */
export interface CapabilitySummary {
  fhirVersion: string | null;
  software: { name: string | null; version: string | null } | null;
  /** Resource types the remote lets us search (rest mode server, interaction search-type), sorted. */
  searchTypes: string[];
  /** Whether it offers Bulk Data $export, and at which levels (system, Patient, Group). */
  export: boolean;
  exportLevels: string[];
}

export type CapabilityVerdict = { ok: true; summary: CapabilitySummary } | { ok: false; summary?: CapabilitySummary; outcome: OperationOutcome };

/**
 * Judges a remote's answer to GET [base]/metadata: a CapabilityStatement of FHIR 4.0.x is usable;
 * anything else is refused with an OperationOutcome that says why. Pure.
 */
export function judgeCapabilities(body: unknown): CapabilityVerdict {
  if (body === null || typeof body !== 'object' || (body as { resourceType?: unknown }).resourceType !== 'CapabilityStatement') {
    const got = body !== null && typeof body === 'object' ? String((body as { resourceType?: unknown }).resourceType ?? 'a JSON object without resourceType') : typeof body;
    return { ok: false, outcome: outcomeOf('not-supported', `The remote's [base]/metadata is not a CapabilityStatement (got ${got.slice(0, 80)}): is baseUrl a FHIR base URL?`) };
  }
  const summary = summarize(body as CapabilityStatement);
  if (!summary.fhirVersion || !/^4\.0(\.|$)/.test(summary.fhirVersion)) {
    const version = summary.fhirVersion ? `FHIR ${summary.fhirVersion}` : 'no fhirVersion';
    return { ok: false, summary, outcome: outcomeOf('not-supported', `The remote speaks ${version}, not FHIR R4 (4.0.x): this server exchanges R4 resources only`) };
  }
  return { ok: true, summary };
}

export function summarize(cs: CapabilityStatement): CapabilitySummary {
  const servers = (cs.rest ?? []).filter((r) => r.mode === 'server');
  const searchTypes = new Set<string>();
  const levels = new Set<string>();
  for (const rest of servers) {
    if ((rest.operation ?? []).some(isExport)) levels.add('system');
    for (const r of rest.resource ?? []) {
      if (r.type && (r.interaction ?? []).some((i) => i.code === 'search-type')) searchTypes.add(r.type);
      if (r.type && (r.operation ?? []).some(isExport)) levels.add(r.type);
    }
  }
  const order = ['system', 'Patient', 'Group'];
  const exportLevels = [...levels].sort((a, b) => rank(order, a) - rank(order, b) || a.localeCompare(b));
  return {
    fhirVersion: typeof cs.fhirVersion === 'string' ? cs.fhirVersion : null,
    software: cs.software ? { name: cs.software.name ?? null, version: cs.software.version ?? null } : null,
    searchTypes: [...searchTypes].sort(),
    export: exportLevels.length > 0,
    exportLevels,
  };
}

function isExport(op: { name?: string; definition?: string }): boolean {
  return op.name === 'export' || op.name === '$export' || /\/OperationDefinition\/([a-z]+-)?export$/i.test(op.definition ?? '');
}

function rank(order: string[], v: string): number {
  const i = order.indexOf(v);
  return i < 0 ? order.length : i;
}
