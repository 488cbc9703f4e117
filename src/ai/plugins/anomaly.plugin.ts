import type { CodeableConcept, Encounter, Location, Observation, Resource, RiskAssessment } from '@medplum/fhirtypes';
import type { ResourceEvent } from '../../outbox/outbox.repository';
import type { ResourceStore } from '../../fhir/store/resource-store.repository';
import { observationTable } from '../../fhir/projection/mappers/observation.mapper';
import { anomalyExtension } from '../../fhir/projection/mappers/anomaly-flag';
import { AI_SOURCE, ONNX_ENGINE, type AiPlugin, type PluginInput, type PluginOutputs, type PreparedInput } from '../ai-plugin';
import { anomalyAlertsFor } from '../anomaly-rules';
import { ANOMALY_SYSTEM, ANOMALY_VITALS, buildAnomalyInput, carriesVitalSign, type AnomalyInput } from '../features/anomaly.features';
import type { ModelOutputs } from '../inference.service';
import type { ModelRegistry, RegisteredModel } from '../model-registry.service';
import { asAiResource, asOutput, provenanceOf, sourceRef } from './outputs';

/** Location types that make a stay an ICU stay: HL7 v3 RoleCode ICU, CCU, PEDICU, PEDNICU; SNOMED CT 309904001 Intensive care unit. */
const ICU_LOCATION_CODES = new Set(['ICU', 'CCU', 'PEDICU', 'PEDNICU', '309904001']);
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

export function isIcuLocationType(types: CodeableConcept[] | undefined): boolean {
  return (types ?? []).some((t) => t.coding?.some((c) => !!c.code && ICU_LOCATION_CODES.has(c.code)));
}

/** The AI's own resources (scores, alerts) never count as readings. */
const isOwn = (o: Observation) => o.meta?.source === AI_SOURCE;

/** A line naming the reading's vitals and the deviation, e.g. "heart rate 150 /min; 9.4 robust SDs from the baseline". Pure. */
export function describeReading(a: AnomalyInput): string {
  const values = a.present.map((name) => {
    const v = ANOMALY_VITALS.find((x) => x.name === name);
    return `${v?.code.display.toLowerCase() ?? name} ${a.row[name]} ${v?.unit ?? ''}`.trim();
  });
  const deviation = a.deviation ? `; ${a.deviation.value.toFixed(1)} robust SDs from the baseline (${a.deviation.vital.replace(/_/g, ' ')})` : '';
  return `${values.join(', ')}${deviation}`;
}

/**
 * Vital-sign anomaly: a reading (an Observation carrying heart rate, respiratory rate, SpO2,
 * systolic blood pressure or temperature, alone or in a panel) from a wearable or monitor
 * (projected to monitoring_data), an ICU vital-signs panel (icu_monitoring), or taken during an ICU
 * stay (its Encounter's location, or that location's parent, typed ICU) gets an anomaly score from
 * its values and its deviation from the patient's recent readings of the same code. The score is a
 * RiskAssessment with Provenance; a flagged reading is updated with the verdict (an extension the
 * projection turns into monitoring_data.anomaly_alert / icu_monitoring.alerts) and yields a
 * recommendation, and in an ICU an emergency alert (a Flag).
 */
export class AnomalyPlugin implements AiPlugin {
  readonly task = 'vital-sign-anomaly' as const;
  /** Queued: a reading is stored as sent (a monitoring stream must not wait for a model); the verdict follows as a RiskAssessment and a write-back. */
  readonly runs = 'queued' as const;
  readonly engine = ONNX_ENGINE;
  readonly resourceTypes = ['Observation'];
  readonly needsObservations = true;

  /** The readings of the five vitals (alone, or in panels whose components carry them). */
  observationCodes(): readonly string[] {
    return ANOMALY_VITALS.flatMap((v) => [v.code, ...(v.alternativeCodes ?? [])]).map((c) => c.code);
  }

  constructor(
    private readonly registry: ModelRegistry,
    private readonly store: ResourceStore,
  ) {}

  async triggers(event: ResourceEvent, resource: Resource): Promise<boolean> {
    if (resource.resourceType !== 'Observation' || !event.patientId) return false;
    const obs = resource as Observation;
    if (obs.status === 'entered-in-error' || obs.status === 'cancelled' || !carriesVitalSign(obs)) return false;
    const table = observationTable(obs);
    if (table === 'monitoring_data' || table === 'icu_monitoring') return true;
    return (await this.icuStay(obs)) !== undefined;
  }

  model(): Promise<RegisteredModel | undefined> {
    return this.registry.active(this.task);
  }

  /** Whether the reading is an ICU reading, and why (outputs() needs it; it takes reads). */
  async context(resource: Resource): Promise<Record<string, unknown>> {
    const obs = resource as Observation;
    const icu = observationTable(obs) === 'icu_monitoring' ? 'ICU vital-signs panel' : await this.icuStay(obs);
    return { icu: icu ?? null };
  }

  prepare(model: RegisteredModel, input: PluginInput): PreparedInput {
    const a = buildAnomalyInput(input.resource as Observation, input.observations, isOwn);
    const basis = a.baseline.map((r) => r.reference as string);
    if (!a.present.length) return { kind: 'insufficient', basis, imputed: [], problems: a.problems, reason: 'the reading carries no usable vital sign' };
    // A later version of the model may read fewer or other inputs: it gets those it names (others NaN, imputed by its graph).
    const row = Object.fromEntries(model.manifest.inputs.map((i) => [i.name, a.row[i.name] ?? Number.NaN]));
    const imputed = model.manifest.inputs.filter((i) => Number.isNaN(row[i.name])).map((i) => i.name);
    return { kind: 'run', row, basis, imputed, problems: a.problems };
  }

  outputs(model: RegisteredModel, input: PluginInput, prepared: PreparedInput, out: ModelOutputs | undefined): PluginOutputs {
    if (prepared.kind === 'fail') throw new Error(prepared.reason);
    const reading = input.resource as Observation;
    const a = buildAnomalyInput(reading, input.observations, isOwn);
    const icu = typeof input.context?.icu === 'string' ? input.context.icu : null;
    const raw = out?.score?.[0];
    const score = prepared.kind === 'run' && typeof raw === 'number' && Number.isFinite(raw) ? Math.round(raw * 10000) / 10000 : undefined;
    const flagged = score !== undefined && score >= model.manifest.threshold.value;
    const described = describeReading(a);
    const notNamed = prepared.imputed.filter((n) => n !== 'baseline_deviation');
    const notes = [
      ...(a.deviation ? [] : ['No baseline (fewer than 3 readings of the same code in the 24 h before): judged on the value alone']),
      ...(notNamed.length ? [`Not in this reading (normal value used, as the model card says): ${notNamed.join(', ')}`] : []),
      ...prepared.problems,
      ...(prepared.kind === 'insufficient' ? [`No score: ${prepared.reason}`] : []),
      ...(icu ? [`ICU reading: ${icu}`] : []),
    ];
    const assessment = asOutput<RiskAssessment>(input, {
      resourceType: 'RiskAssessment',
      status: 'final',
      code: { coding: [{ system: ANOMALY_SYSTEM, code: 'vital-sign-anomaly', display: 'Vital-sign anomaly' }], text: 'Vital-sign anomaly' },
      subject: { reference: `Patient/${input.job.patientId}` },
      ...(reading.encounter ? { encounter: reading.encounter } : {}),
      occurrenceDateTime: new Date().toISOString(),
      performer: { reference: `Device/${model.id}` },
      method: { text: `${model.manifest.title} (${model.manifest.name} ${model.manifest.version})` },
      basis: [...new Set([sourceRef(input), ...prepared.basis])].map((reference) => ({ reference })),
      ...(score !== undefined
        ? {
            prediction: [
              {
                outcome: {
                  coding: [{ system: ANOMALY_SYSTEM, code: flagged ? 'anomalous' : 'expected', display: flagged ? 'Anomalous reading' : 'Expected reading' }],
                  text: described,
                },
                probabilityDecimal: score,
                qualitativeRisk: { text: flagged ? 'anomalous' : 'expected' },
              },
            ],
          }
        : {}),
      ...(notes.length ? { note: notes.map((text) => ({ text })) } : {}),
    });
    const create = [
      assessment,
      provenanceOf(model, assessment, [sourceRef(input), ...prepared.basis]),
      ...anomalyAlertsFor(model.manifest, { reference: `Device/${model.id}` }, assessment, reading, icu).map(asAiResource),
    ];
    if (!flagged) return { create };
    // The verdict goes on the reading itself, which the projection maps to anomaly_alert / alerts.
    const others = (reading.extension ?? []).filter((e) => e.url !== anomalyExtension({ flagged }).url);
    const update: Observation = {
      ...reading,
      meta: { ...(reading.meta ?? {}), source: AI_SOURCE },
      extension: [...others, anomalyExtension({ flagged, score, assessment: `RiskAssessment/${assessment.id}`, model: `Device/${model.id}` })],
    };
    return { create, update };
  }

  /** "Encounter/x at Location/y (ICU)" when the reading was taken during an ICU stay, else undefined. */
  private async icuStay(obs: Observation): Promise<string | undefined> {
    const m = /^Encounter\/(.+)$/.exec(obs.encounter?.reference ?? '');
    if (!m || !ID.test(m[1])) return undefined;
    const encounter = await this.readJson<Encounter>('Encounter', m[1]);
    if (!encounter || encounter.status === 'finished' || encounter.status === 'cancelled' || encounter.status === 'entered-in-error') return undefined;
    for (const l of encounter.location ?? []) {
      if (l.status === 'completed') continue;
      const id = /^Location\/(.+)$/.exec(l.location?.reference ?? '')?.[1];
      if (!id || !ID.test(id)) continue;
      const location = await this.readJson<Location>('Location', id);
      if (isIcuLocationType(location?.type)) return `Encounter/${m[1]} at Location/${id}`;
      // A bed or room inside an ICU ward.
      const parent = /^Location\/(.+)$/.exec(location?.partOf?.reference ?? '')?.[1];
      if (parent && ID.test(parent) && isIcuLocationType((await this.readJson<Location>('Location', parent))?.type)) return `Encounter/${m[1]} at Location/${id} in Location/${parent}`;
    }
    return undefined;
  }

  private async readJson<T>(type: string, id: string): Promise<T | undefined> {
    const found = await this.store.readCurrent(type, id);
    return found?.json && !found.deleted ? (JSON.parse(found.json) as T) : undefined;
  }
}
