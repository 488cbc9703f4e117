import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Encounter, Flag, Location, Observation, Provenance, RiskAssessment, Task } from '@medplum/fhirtypes';
import { AI_JOB_SYSTEM, AI_SOURCE, type AiJob, type PluginInput } from '../ai-plugin';
import type { ModelManifest } from '../model-manifest';
import type { ModelRegistry, RegisteredModel } from '../model-registry.service';
import type { ResourceEvent } from '../../outbox/outbox.repository';
import type { ResourceStore } from '../../fhir/store/resource-store.repository';
import { anomalyFlagOf } from '../../fhir/projection/mappers/anomaly-flag';
import { observationMapper } from '../../fhir/projection/mappers/observation.mapper';
import { contractProblems, referenceRows } from '../task-contracts';
import { fakeCtx } from '../../../test/helpers/mapper-fixtures';
import { checkManifest } from '../registry/manifest.checks';
import { AnomalyPlugin, isIcuLocationType } from './anomaly.plugin';

const ROOT = path.resolve(__dirname, '../../..');
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'models', 'vitals-anomaly', 'manifest.json'), 'utf8')) as ModelManifest;
const model: RegisteredModel = { id: 'vitals-anomaly-1.0.0', manifest, sha256: manifest.model.sha256, bytes: Buffer.alloc(0) };
const LOINC = 'http://loinc.org';

function fakeStore(resources: Array<Encounter | Location>): ResourceStore {
  return {
    readCurrent: jest.fn(async (type: string, id: string) => {
      const r = resources.find((x) => x.resourceType === type && x.id === id);
      return r ? { json: JSON.stringify(r), deleted: false, versionId: 1 } : undefined;
    }),
  } as unknown as ResourceStore;
}
const registry = { active: jest.fn(async () => model) } as unknown as ModelRegistry;

const icuWard: Location = { resourceType: 'Location', id: 'icu', type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'ICU' }] }] };
const icuBed: Location = { resourceType: 'Location', id: 'bed1', physicalType: { coding: [{ code: 'bd' }] }, partOf: { reference: 'Location/icu' } };
const ward: Location = { resourceType: 'Location', id: 'ward', type: [{ coding: [{ code: 'HU' }] }] };
const stay = (id: string, location: string, status: Encounter['status'] = 'in-progress'): Encounter => ({
  resourceType: 'Encounter',
  id,
  status,
  class: { code: 'IMP' },
  subject: { reference: 'Patient/p1' },
  location: [{ location: { reference: `Location/${location}` } }],
});
const store = fakeStore([icuWard, icuBed, ward, stay('e-icu', 'bed1'), stay('e-ward', 'ward'), stay('e-done', 'bed1', 'finished')]);
const plugin = new AnomalyPlugin(registry, store);

const event = (patientId: string | null = 'p1'): ResourceEvent => ({ id: 'ev', resourceType: 'Observation', resourceId: 'r', versionId: 1, patientId, action: 'create' });
let seq = 0;
function hr(value: number, minute: number, over: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    id: `o${++seq}`,
    meta: { versionId: '1' },
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: LOINC, code: '8867-4' }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: new Date(Date.UTC(2026, 0, 1, 12, minute)).toISOString(),
    valueQuantity: { value, unit: '/min', code: '/min' },
    ...over,
  };
}
const wearable = { device: { display: 'wrist band' } };

async function inputFor(reading: Observation, history: Observation[] = []): Promise<PluginInput> {
  const job: AiJob = { task: 'vital-sign-anomaly', resourceType: 'Observation', resourceId: reading.id as string, versionId: 1, patientId: 'p1' };
  return { job, jobId: `vital-sign-anomaly/Observation/${reading.id}/_history/1`, resource: reading, observations: [...history, reading], context: await plugin.context(reading) };
}

describe('the committed manifest', () => {
  it('honours the vital-sign-anomaly task contract and passes the registry\'s manifest checks', () => {
    expect(contractProblems(manifest)).toEqual([]);
    expect(checkManifest(JSON.parse(JSON.stringify(manifest))).problems).toEqual([]);
    expect(referenceRows(manifest).map((r) => r.label)).toEqual(['the training means', 'every input missing (NaN)', 'the training minima', 'the training maxima']);
  });
});

describe('AnomalyPlugin.triggers', () => {
  it('takes device readings, ICU panels and readings during an ICU stay; not other vitals, the AI\'s own, labs or voided ones', async () => {
    expect(await plugin.triggers(event(), hr(80, 0, wearable))).toBe(true);
    expect(await plugin.triggers(event(), hr(80, 0, { encounter: { reference: 'Encounter/e-icu' } }))).toBe(true);
    expect(await plugin.triggers(event(), hr(80, 0, { encounter: { reference: 'Encounter/e-ward' } }))).toBe(false);
    expect(await plugin.triggers(event(), hr(80, 0, { encounter: { reference: 'Encounter/e-done' } }))).toBe(false);
    expect(await plugin.triggers(event(), hr(80, 0))).toBe(false);
    // Judged on content alone: the AI's own writes are passed over by their outbox actor before this.
    expect(await plugin.triggers(event(), hr(80, 0, { ...wearable, meta: { source: AI_SOURCE } }))).toBe(true);
    expect(await plugin.triggers(event(), hr(80, 0, { ...wearable, status: 'entered-in-error' }))).toBe(false);
    expect(await plugin.triggers(event(null), hr(80, 0, wearable))).toBe(false);
    expect(await plugin.triggers(event(), hr(80, 0, { ...wearable, code: { coding: [{ system: LOINC, code: '2093-3' }] } }))).toBe(false);
  });

  it('knows ICU location types', () => {
    expect(isIcuLocationType(icuWard.type)).toBe(true);
    expect(isIcuLocationType(ward.type)).toBe(false);
    expect(isIcuLocationType(undefined)).toBe(false);
  });
});

describe('AnomalyPlugin.prepare and outputs', () => {
  const baseline = [hr(70, 1, wearable), hr(72, 2, wearable), hr(71, 3, wearable), hr(73, 4, wearable)];

  it('a normal reading: a RiskAssessment "expected" with Provenance, no update, no alert', async () => {
    const reading = hr(74, 10, wearable);
    const input = await inputFor(reading, baseline);
    const prepared = plugin.prepare(model, input);
    expect(prepared.kind).toBe('run');
    if (prepared.kind !== 'run') return;
    expect(prepared.row.heart_rate).toBe(74);
    expect(prepared.row.baseline_deviation).toBeCloseTo((74 - 71.5) / 5, 3);
    const { create, update } = plugin.outputs(model, input, prepared, { score: [0.01] });
    expect(update).toBeUndefined();
    const [ra, prov, ...rest] = create as [RiskAssessment, Provenance, ...unknown[]];
    expect(rest).toEqual([]);
    expect(ra.identifier).toEqual([{ system: AI_JOB_SYSTEM, value: input.jobId }]);
    expect(ra.performer?.reference).toBe('Device/vitals-anomaly-1.0.0');
    expect(ra.prediction?.[0]).toMatchObject({ probabilityDecimal: 0.01, qualitativeRisk: { text: 'expected' } });
    expect(ra.basis?.map((b) => b.reference).sort()).toEqual([`Observation/${reading.id}`, ...baseline.map((o) => `Observation/${o.id}`)].sort());
    expect(prov.agent?.[0].who?.reference).toBe('Device/vitals-anomaly-1.0.0');
    expect(prov.target?.[0].reference).toBe(`RiskAssessment/${ra.id}`);
  });

  it('a flagged wearable reading: the reading updated with the verdict (anomaly_alert in monitoring_data), a recommendation, no emergency Flag', async () => {
    const reading = hr(150, 10, wearable);
    const input = await inputFor(reading, baseline);
    const prepared = plugin.prepare(model, input);
    const { create, update } = plugin.outputs(model, input, prepared, { score: [0.97] });
    const ra = create[0] as RiskAssessment;
    expect(ra.prediction?.[0].outcome?.coding?.[0].code).toBe('anomalous');
    expect(ra.prediction?.[0].outcome?.text).toMatch(/heart rate 150 \/min; 15\.7 robust SDs/);
    expect(create.filter((r) => r.resourceType === 'Flag')).toEqual([]);
    const [task] = create.filter((r) => r.resourceType === 'Task') as Task[];
    expect(task).toMatchObject({ status: 'requested', intent: 'proposal', priority: 'asap', focus: { reference: `Observation/${reading.id}` } });
    const updated = update as Observation;
    expect(updated.id).toBe(reading.id);
    expect(updated.meta?.source).toBe(AI_SOURCE);
    expect(anomalyFlagOf(updated)).toEqual({ flagged: true, score: 0.97, assessment: `RiskAssessment/${ra.id}`, model: 'Device/vitals-anomaly-1.0.0' });
    expect(observationMapper.toRows(updated, fakeCtx)[0]).toMatchObject({ table: 'monitoring_data', values: { anomaly_alert: true } });
    expect(observationMapper.toRows(reading, fakeCtx)[0]).toMatchObject({ table: 'monitoring_data', values: { anomaly_alert: false } });
  });

  it('a flagged reading during an ICU stay also raises an emergency Flag for the patient', async () => {
    const reading = hr(35, 10, { encounter: { reference: 'Encounter/e-icu' } });
    const input = await inputFor(reading);
    expect(input.context).toEqual({ icu: 'Encounter/e-icu at Location/bed1 in Location/icu' });
    const prepared = plugin.prepare(model, input);
    const { create } = plugin.outputs(model, input, prepared, { score: [0.99] });
    const ra = create[0] as RiskAssessment;
    expect(ra.note?.map((n) => n.text).join(' ')).toMatch(/No baseline.*ICU reading/);
    const [flag] = create.filter((r) => r.resourceType === 'Flag') as Flag[];
    expect(flag).toMatchObject({ status: 'active', subject: { reference: 'Patient/p1' }, encounter: { reference: 'Encounter/e-icu' }, author: { reference: 'Device/vitals-anomaly-1.0.0' } });
    expect(flag.code?.coding?.[0]).toMatchObject({ system: 'urn:fhir-ai-server:alert', code: 'emergency' });
    expect(flag.code?.text?.length).toBeLessThanOrEqual(100); // emergency_alerts.alert_type is varchar(100)
    expect((create.find((r) => r.resourceType === 'Task') as Task).priority).toBe('stat');
  });

  it('a reading with no usable value: no score, the reason noted, nothing flagged', async () => {
    const reading = hr(80, 10, { ...wearable, valueQuantity: { value: 80, code: 'furlong' } });
    const input = await inputFor(reading);
    const prepared = plugin.prepare(model, input);
    expect(prepared.kind).toBe('insufficient');
    const { create, update } = plugin.outputs(model, input, prepared, undefined);
    const ra = create[0] as RiskAssessment;
    expect(ra.prediction).toBeUndefined();
    expect(ra.note?.map((n) => n.text).join(' ')).toMatch(/unit "furlong".*No score: the reading carries no usable vital sign/);
    expect(update).toBeUndefined();
    expect(create).toHaveLength(2);
  });
});
