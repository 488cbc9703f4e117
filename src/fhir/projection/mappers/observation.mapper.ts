import type { CodeableConcept, Coding, Observation, ObservationComponent, SampledData } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import {
  compact,
  conceptLabel,
  conceptText,
  firstCoding,
  fromTimestamp,
  json,
  localRefId,
  patientRef,
  requireId,
  str,
  toTimestamp,
  truncate,
} from './mapper-utils';
import { interventionSuggestedOf } from './wellness.mapper';
import { anomalyFlagOf, icuAlertsOf } from './anomaly-flag';

export const LOINC = 'http://loinc.org';
export const SNOMED_CT = 'http://snomed.info/sct';

/** LOINC 85353-1 "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel". */
export const VITAL_SIGNS_PANEL: Coding = { system: LOINC, code: '85353-1' };

/**
 * Codes that make an Observation a stress reading (stress_data):
 * - LOINC 93038-8 "Stress level": the stress item of PRAPARE and AHC HRSN (US Core SDOH screening);
 * - LOINC 106860-0 "Perceived stress scale-10 total score [PSS-10]";
 * - SNOMED CT 73595000 "Stress (finding)": what apps and wearables code a stress reading with
 *   when no LOINC term fits (there is no standard code for a device "stress score").
 */
export const STRESS_CODES: readonly Coding[] = [
  { system: LOINC, code: '93038-8', display: 'Stress level' },
  { system: LOINC, code: '106860-0', display: 'Perceived stress scale-10 total score [PSS-10]' },
  { system: SNOMED_CT, code: '73595000', display: 'Stress (finding)' },
];

export type ObservationTable = 'monitoring_data' | 'icu_monitoring' | 'stress_data';

/** One value as the tables keep it: the observed code and its value (FHIR value[x] type in `type`). */
export interface Reading {
  code?: string;
  system?: string;
  display?: string;
  type?: string;
  value?: number | string | boolean | SampledData;
  unit?: string;
  /** For a CodeableConcept value: its first coding (`value` holds its text). */
  valueCode?: string;
  valueSystem?: string;
}

/** What readings / vital_signs hold: the observation's own value, its components, and a panel's members. */
export interface ObservationReadings extends Reading {
  components?: Reading[];
  members?: string[];
}

const has = (cc: CodeableConcept | undefined, codes: readonly Coding[]) =>
  !!cc?.coding?.some((c) => codes.some((k) => k.system === c.system && k.code === c.code));

/**
 * The table that takes an Observation, or undefined (labs, single vital signs without a device...).
 * First match wins: a stress code → stress_data (even from a wearable: the seed's stress_data are
 * wearable stress readings); a vital-signs panel (85353-1) with components or members →
 * icu_monitoring (even from a bedside monitor); a device reference → monitoring_data.
 * Entered-in-error and cancelled observations take none: these tables have no status column
 * and feed anomaly detection. Nor do the AI's own scores (coded in the server's `urn:fhir-ai-server:`
 * systems): their `device` is the model that computed them, not a sensor.
 */
export function observationTable(obs: Observation): ObservationTable | undefined {
  if (obs.status === 'entered-in-error' || obs.status === 'cancelled') return undefined;
  if (obs.code?.coding?.some((c) => c.system?.startsWith('urn:fhir-ai-server:'))) return undefined;
  if (has(obs.code, STRESS_CODES)) return 'stress_data';
  if (has(obs.code, [VITAL_SIGNS_PANEL]) && (obs.component?.length || obs.hasMember?.length)) return 'icu_monitoring';
  if (obs.device) return 'monitoring_data';
  return undefined;
}

/** The compact JSON of an observation's (or a component's) code and value. */
export function reading(holder: ObservationComponent): Reading {
  const coding = firstCoding(holder.code);
  return compact({ code: coding?.code, system: coding?.system, display: conceptText(holder.code), ...valueOf(holder) });
}

function valueOf(h: ObservationComponent): Partial<Reading> {
  if (h.valueQuantity) return { type: 'Quantity', value: h.valueQuantity.value, unit: h.valueQuantity.unit ?? h.valueQuantity.code };
  if (h.valueCodeableConcept) {
    const c = firstCoding(h.valueCodeableConcept);
    return { type: 'CodeableConcept', value: conceptLabel(h.valueCodeableConcept), valueCode: c?.code, valueSystem: c?.system };
  }
  if (h.valueString !== undefined) return { type: 'string', value: h.valueString };
  if (h.valueBoolean !== undefined) return { type: 'boolean', value: h.valueBoolean };
  if (h.valueInteger !== undefined) return { type: 'integer', value: h.valueInteger };
  if (h.valueDateTime !== undefined) return { type: 'dateTime', value: h.valueDateTime };
  if (h.valueTime !== undefined) return { type: 'time', value: h.valueTime };
  if (h.valueSampledData) return { type: 'SampledData', value: h.valueSampledData };
  return {}; // Range, Ratio, Period: no single value; the stored resource keeps them.
}

/** A Reading back to the code and value[x] elements it came from. */
function fromReading(r: Reading): ObservationComponent {
  const code: CodeableConcept = compact({ coding: r.code ? [compact({ system: r.system, code: r.code })] : undefined, text: r.display });
  const value: Partial<ObservationComponent> =
    r.type === 'Quantity'
      ? { valueQuantity: compact({ value: r.value as number | undefined, unit: r.unit }) }
      : r.type === 'CodeableConcept'
        ? {
            valueCodeableConcept: compact({
              coding: r.valueCode ? [compact({ system: r.valueSystem, code: r.valueCode })] : undefined,
              text: r.value as string | undefined,
            }),
          }
        : r.type && r.value !== undefined
          ? { [`value${r.type[0].toUpperCase()}${r.type.slice(1)}`]: r.value }
          : {};
  return { code: code.coding || code.text ? code : { text: 'unknown' }, ...value };
}

/**
 * Observation → monitoring_data, icu_monitoring or stress_data (see observationTable), only when
 * its subject is a local Patient. anomaly_alert and alerts come from the anomaly plugin's extension on
 * the reading (anomaly-flag.ts); intervention_suggested from the stress rule's extension (src/hospital/wellness).
 */
export const observationMapper: ResourceMapper<Observation> = {
  resourceType: 'Observation',
  tables: ['monitoring_data', 'icu_monitoring', 'stress_data'],

  toRows(obs: Observation): ProjectionRow[] {
    const table = observationTable(obs);
    const patientId = localRefId(obs.subject, 'Patient');
    if (!table || !patientId) return [];
    const readings: ObservationReadings = compact({
      ...reading(obs),
      components: obs.component?.length ? obs.component.map(reading) : undefined,
      members: obs.hasMember?.length ? obs.hasMember.map((m) => m.reference).filter((r): r is string => !!r) : undefined,
    });
    const timestamp = toTimestamp(obs.effectiveDateTime ?? obs.effectivePeriod?.start ?? obs.effectiveInstant ?? obs.issued);
    const key = { patient_id: patientId, id: requireId(obs) };
    switch (table) {
      case 'monitoring_data': {
        const device = obs.device?.display ?? obs.device?.reference ?? obs.device?.identifier?.value;
        return [{ table, values: { ...key, device_type: truncate(device, 100), readings, timestamp, anomaly_alert: anomalyFlagOf(obs)?.flagged ?? false } }];
      }
      case 'icu_monitoring':
        return [{ table, values: { ...key, vital_signs: readings, alerts: icuAlertsOf(obs), timestamp } }];
      case 'stress_data':
        return [{ table, values: { ...key, readings, intervention_suggested: interventionSuggestedOf(obs), timestamp } }];
    }
  },

  toResource(row: Record<string, unknown>): Observation {
    const readings = json<ObservationReadings>(row.vital_signs ?? row.readings) ?? {};
    const device = str(row.device_type);
    const own = fromReading(readings);
    return compact<Observation>({
      resourceType: 'Observation',
      id: String(row.id),
      status: 'final',
      ...own,
      subject: patientRef(row),
      effectiveDateTime: fromTimestamp(row.timestamp),
      device: device ? { display: device } : undefined,
      hasMember: readings.members?.map((reference) => ({ reference })),
      component: readings.components?.map(fromReading),
    });
  },
};
