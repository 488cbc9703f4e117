import { readFileSync } from 'node:fs';
import { AiTaskRunner } from '../ai-task.runner';
import path from 'node:path';
import type { Communication, Condition, Encounter, Observation, Patient, Provenance, QuestionnaireResponse, RiskAssessment, Task } from '@medplum/fhirtypes';
import { AI_JOB_SYSTEM, AI_SOURCE, type AiJob, type PluginInput, type PreparedInput } from '../ai-plugin';
import type { ModelManifest } from '../model-manifest';
import type { ModelOutputs } from '../inference.service';
import type { ModelRegistry, RegisteredModel } from '../model-registry.service';
import type { ResourceEvent } from '../../outbox/outbox.repository';
import type { ResourceStore } from '../../fhir/store/resource-store.repository';
import { AI_CONFIDENCE_EXTENSION_URL, AI_MODEL_EXTENSION_URL } from '../../fhir/projection/mappers/condition.mapper';
import { AI_SENTIMENT_EXTENSION_URL, TRIAGE_SYSTEM, feedbackMapper, therapySessionMapper, triageMapper } from '../../fhir/projection/mappers/ai-output.mappers';
import { fakeCtx } from '../../../test/helpers/mapper-fixtures';
import { DiagnosisPlugin } from './diagnosis.plugin';
import type { PendingRecommendations } from './pending-recommendations';
import { TriagePlugin, isVitalSign } from './triage.plugin';
import { SENTIMENT_CODE, SentimentPlugin } from './sentiment.plugin';

const ROOT = path.resolve(__dirname, '../../..');
const manifestOf = (name: string) => JSON.parse(readFileSync(path.join(ROOT, 'models', name, 'manifest.json'), 'utf8')) as ModelManifest;
const registered = (name: string): RegisteredModel => {
  const manifest = manifestOf(name);
  return { id: `${manifest.name}-${manifest.version}`, manifest, sha256: manifest.model.sha256, bytes: Buffer.alloc(0) };
};

const cad = registered('cad-cleveland');
const news2 = registered('triage-news2');
const sentimentModel = registered('sentiment-uci');

const NOW = new Date('2024-06-01T12:00:00.000Z');
const LOINC = 'http://loinc.org';
const CLEVELAND = 'urn:fhir-ai-server:cleveland';
const CAD_CODE = { system: 'http://snomed.info/sct', code: '53741008', display: 'Coronary arteriosclerosis' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A registry that knows only what the plugins ask of it. */
function fakeRegistry(models: RegisteredModel[] = [cad, news2, sentimentModel]) {
  const fake = {
    active: jest.fn(async (task: string, condition?: string) =>
      models.find((m) => m.manifest.task === task && (!condition || `${m.manifest.condition?.system}|${m.manifest.condition?.code}` === condition)),
    ),
    activeConditions: jest.fn(async () => new Set(models.filter((m) => m.manifest.condition).map((m) => `${m.manifest.condition!.system}|${m.manifest.condition!.code}`))),
  };
  return { fake, registry: fake as unknown as ModelRegistry };
}

const event = (resourceType: string, resourceId: string, patientId: string | null = 'p1'): ResourceEvent => ({ id: 'ev1', resourceType, resourceId, versionId: 1, patientId, action: 'create' });
const job = (task: AiJob['task'], resourceType: string, resourceId: string): AiJob => ({ task, resourceType, resourceId, versionId: 3, patientId: 'p1' });

const patient: Patient = { resourceType: 'Patient', id: 'p1', birthDate: '1960-03-15', gender: 'male' };

let seq = 0;
function obs(system: string, code: string, value: Partial<Observation>, over: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    id: `o${++seq}`,
    status: 'final',
    code: { coding: [{ system, code }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2024-05-31T08:00:00Z',
    ...value,
    ...over,
  };
}
const qty = (value: number, code: string) => ({ valueQuantity: { value, unit: code, system: 'http://unitsofmeasure.org', code } });

beforeAll(() => {
  // fixed clock: occurrenceDateTime, Provenance.recorded and the patient's age
  jest.useFakeTimers({ now: NOW, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
});
afterAll(() => jest.useRealTimers());

function expectOutputMarks(resource: { id?: string; meta?: { source?: string }; identifier?: Array<{ system?: string; value?: string }> }, jobId: string) {
  expect(resource.id).toMatch(UUID);
  expect(resource.meta?.source).toBe(AI_SOURCE);
  expect(resource.identifier).toEqual([{ system: AI_JOB_SYSTEM, value: jobId }]);
}

function expectProvenance(p: Provenance, target: { resourceType: string; id?: string }, model: RegisteredModel, sources: string[]) {
  expect(p).toEqual({
    resourceType: 'Provenance',
    id: expect.stringMatching(UUID),
    meta: { source: AI_SOURCE },
    target: [{ reference: `${target.resourceType}/${target.id}` }],
    recorded: NOW.toISOString(),
    activity: { text: `AI ${model.manifest.task}` },
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler' }] },
        who: { reference: `Device/${model.id}`, display: `${model.manifest.name} ${model.manifest.version}` },
      },
    ],
    entity: [...new Set(sources)].map((what) => ({ role: 'source', what: { reference: what } })),
  });
  expect(p.id).not.toBe(target.id);
}

describe('DiagnosisPlugin', () => {
  const condition = (over: Partial<Condition> = {}): Condition => ({
    resourceType: 'Condition',
    id: 'c1',
    meta: { versionId: '3' },
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    code: { coding: [CAD_CODE], text: 'Coronary artery disease' },
    subject: { reference: 'Patient/p1' },
    extension: [{ url: 'http://example.org/keep-me', valueString: 'kept' }],
    ...over,
  });
  const cadObservations = () => ({
    chest: obs(CLEVELAND, 'chest-pain-type', { valueInteger: 4 }),
    sbp: obs(LOINC, '8480-6', qty(145, 'mm[Hg]')),
    chol: obs(LOINC, '2093-3', qty(233, 'mg/dL')),
    glucose: obs(LOINC, '1558-6', qty(130, 'mg/dL')),
    ecg: obs(CLEVELAND, 'resting-ecg', { valueInteger: 2 }),
    maxHr: obs(CLEVELAND, 'max-heart-rate-exercise', qty(150, '/min')),
    angina: obs(CLEVELAND, 'exercise-induced-angina', { valueBoolean: true }),
    st: obs(CLEVELAND, 'st-depression-exercise', qty(2.3, 'mm')),
  });
  const inputOf = (observations: Observation[], resource: Condition = condition()): PluginInput => ({
    job: job('diagnosis-confidence', 'Condition', 'c1'),
    jobId: 'diagnosis-confidence/Condition/c1/_history/3',
    resource,
    patient,
    observations,
  });

  describe('triggers', () => {
    it('triggers on a Condition coded for an active model, whatever its meta.source (the AI\'s own writes are passed over by their outbox actor)', async () => {
      const { registry } = fakeRegistry();
      const plugin = new DiagnosisPlugin(registry);
      expect(await plugin.triggers(event('Condition', 'c1'), condition())).toBe(true);
      expect(await plugin.triggers(event('Condition', 'c1'), condition({ meta: { source: AI_SOURCE } }))).toBe(true);
      expect(await plugin.triggers(event('Condition', 'c1'), condition({ code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] } }))).toBe(false);
      expect(await plugin.triggers(event('Condition', 'c1', null), condition())).toBe(false);
    });

    it('does not score a Condition that is resolved, inactive, in remission, entered in error or refuted', async () => {
      const plugin = new DiagnosisPlugin(fakeRegistry().registry);
      const clinical = (code: string) => ({ clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code }] } });
      const verification = (code: string) => ({ verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code }] } });
      for (const code of ['resolved', 'inactive', 'remission']) expect([code, await plugin.triggers(event('Condition', 'c1'), condition(clinical(code)))]).toEqual([code, false]);
      for (const code of ['entered-in-error', 'refuted']) expect([code, await plugin.triggers(event('Condition', 'c1'), condition(verification(code)))]).toEqual([code, false]);
      // still weighed: active, recurrence, relapse; unconfirmed, provisional, differential, confirmed; or no status at all
      for (const over of [clinical('recurrence'), clinical('relapse'), verification('provisional'), verification('confirmed'), { clinicalStatus: undefined }]) {
        expect(await plugin.triggers(event('Condition', 'c1'), condition(over))).toBe(true);
      }
    });

    it('picks the model of the first coded condition that has one', async () => {
      const { registry, fake } = fakeRegistry();
      const plugin = new DiagnosisPlugin(registry);
      const both = condition({ code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003' }, CAD_CODE] } });
      expect(await plugin.model(both)).toBe(cad);
      expect(fake.active).toHaveBeenCalledWith('diagnosis-confidence', 'http://snomed.info/sct|53741008');
      expect(await plugin.model(condition({ code: { text: 'no coding' } }))).toBeUndefined();
    });
  });

  describe('prepare', () => {
    it('builds the row from the Patient and the latest Observations, with their references as basis', () => {
      const o = cadObservations();
      const prepared = new DiagnosisPlugin(fakeRegistry().registry).prepare(cad, inputOf(Object.values(o)));
      expect(prepared).toEqual({
        kind: 'run',
        row: {
          age: 64,
          sex: 1,
          chest_pain_type: 4,
          resting_systolic_bp: 145,
          serum_cholesterol: 233,
          fasting_glucose_gt_120: 1,
          resting_ecg: 2,
          max_heart_rate: 150,
          exercise_angina: 1,
          st_depression: 2.3,
          st_slope: Number.NaN,
          major_vessels: Number.NaN,
          thal: Number.NaN,
        },
        basis: expect.arrayContaining(['Patient/p1', ...Object.values(o).map((x) => `Observation/${x.id}`)]),
        imputed: ['st_slope', 'major_vessels', 'thal'],
        problems: [],
      });
      if (prepared.kind !== 'run') throw new Error('not run');
      expect(prepared.basis).toHaveLength(9);
    });

    it('says why when too little is known (below minRealInputs)', () => {
      const o = cadObservations();
      const prepared = new DiagnosisPlugin(fakeRegistry().registry).prepare(cad, inputOf([o.chest, o.sbp, o.chol, o.glucose, obs(LOINC, '2093-3', qty(1, 'g/L'), { effectiveDateTime: '2024-05-31T09:00:00Z' })]));
      expect(prepared).toEqual({
        kind: 'insufficient',
        basis: expect.any(Array),
        imputed: ['serum_cholesterol', 'resting_ecg', 'max_heart_rate', 'exercise_angina', 'st_depression', 'st_slope', 'major_vessels', 'thal'],
        problems: ['serum_cholesterol: unit "g/L" cannot be converted to mg/dL; treated as missing'],
        reason: '5 of 13 inputs known; the model card asks for at least 8',
      });
      if (prepared.kind !== 'insufficient') throw new Error('not insufficient');
      expect([...prepared.basis].sort()).toEqual(['Patient/p1', `Observation/${o.chest.id}`, `Observation/${o.sbp.id}`, `Observation/${o.glucose.id}`].sort());
    });
  });

  describe('outputs', () => {
    it('writes a RiskAssessment with the probability, its Provenance, and the confidence on the Condition', () => {
      const plugin = new DiagnosisPlugin(fakeRegistry().registry);
      const o = cadObservations();
      const input = inputOf(Object.values(o));
      const prepared = plugin.prepare(cad, input);
      if (prepared.kind !== 'run') throw new Error('not run');
      const out = plugin.outputs(cad, input, prepared, { probability: [0.812345], logit: [1.46] });

      // the RiskAssessment, its Provenance, and (above the card's threshold) a recommendation Task
      expect(out.create.map((r) => r.resourceType)).toEqual(['RiskAssessment', 'Provenance', 'Task']);
      const [ra, prov] = out.create as [RiskAssessment, Provenance];
      expectOutputMarks(ra, input.jobId);
      expect(ra).toEqual({
        resourceType: 'RiskAssessment',
        id: expect.stringMatching(UUID),
        meta: { source: AI_SOURCE },
        identifier: [{ system: AI_JOB_SYSTEM, value: 'diagnosis-confidence/Condition/c1/_history/3' }],
        status: 'final',
        subject: { reference: 'Patient/p1' },
        condition: { reference: 'Condition/c1' },
        occurrenceDateTime: NOW.toISOString(),
        performer: { reference: 'Device/cad-cleveland-1.0.0' },
        method: { text: 'Coronary artery disease: diagnosis confidence (Cleveland) (cad-cleveland 1.0.0)' },
        basis: ['Condition/c1', ...prepared.basis].map((reference) => ({ reference })),
        prediction: [{ outcome: { coding: [CAD_CODE], text: 'Coronary artery disease' }, probabilityDecimal: 0.8123 }],
        note: [{ text: 'Imputed as the model card says: st_slope, major_vessels, thal' }],
      });
      // A code given without words is named for the reader: a coding's display, else the model card's name.
      const bare = (coding: object) => (plugin.outputs(cad, inputOf(Object.values(o), condition({ code: { coding: [coding] } })), prepared, { probability: [0.8], logit: [1] }).create[0] as RiskAssessment).prediction?.[0].outcome;
      expect(bare({ system: CAD_CODE.system, code: CAD_CODE.code })).toEqual({ coding: [{ system: CAD_CODE.system, code: CAD_CODE.code }], text: cad.manifest.condition?.display });
      expect(bare(CAD_CODE)?.text).toBe(CAD_CODE.display);
      // each source once: the trigger, the Patient, the eight Observations
      expect(ra.basis).toHaveLength(10);
      expect(new Set(ra.basis!.map((b) => b.reference)).size).toBe(10);
      expectProvenance(prov, ra, cad, ['Condition/c1', ...prepared.basis]);

      expect(out.update).toEqual({
        ...condition(),
        meta: { versionId: '3', source: AI_SOURCE },
        extension: [
          { url: 'http://example.org/keep-me', valueString: 'kept' },
          { url: AI_CONFIDENCE_EXTENSION_URL, valueDecimal: 0.8123 },
          { url: AI_MODEL_EXTENSION_URL, valueReference: { reference: 'Device/cad-cleveland-1.0.0' } },
        ],
      });
    });

    it('replaces an earlier confidence and model on the Condition rather than adding to them', () => {
      const plugin = new DiagnosisPlugin(fakeRegistry().registry);
      const earlier = condition({
        extension: [
          { url: AI_CONFIDENCE_EXTENSION_URL, valueDecimal: 0.1 },
          { url: 'http://example.org/keep-me', valueString: 'kept' },
          { url: AI_MODEL_EXTENSION_URL, valueReference: { reference: 'Device/cad-cleveland-0.9.0' } },
        ],
      });
      const input = inputOf(Object.values(cadObservations()), earlier);
      const prepared = plugin.prepare(cad, input);
      const update = plugin.outputs(cad, input, prepared, { probability: [0.3] }).update as Condition;
      expect(update.extension).toEqual([
        { url: 'http://example.org/keep-me', valueString: 'kept' },
        { url: AI_CONFIDENCE_EXTENSION_URL, valueDecimal: 0.3 },
        { url: AI_MODEL_EXTENSION_URL, valueReference: { reference: 'Device/cad-cleveland-1.0.0' } },
      ]);
      expect(update.meta?.source).toBe(AI_SOURCE);
      // the updated Condition is written by the AI (its actor, system:ai:...): the fan-out passes over it, whatever its content
      expect(AiTaskRunner.prototype.mayTrigger({ action: 'update', actor: 'system:ai:cad-cleveland-1.0.0' })).toBe(false);
    });

    it('writes no prediction and no update when too little is known, only a note saying why', () => {
      const plugin = new DiagnosisPlugin(fakeRegistry().registry);
      const o = cadObservations();
      const input = inputOf([o.chest, o.sbp]);
      const prepared = plugin.prepare(cad, input);
      expect(prepared.kind).toBe('insufficient');
      for (const modelOut of [undefined, { probability: [0.9] }]) {
        const out = plugin.outputs(cad, input, prepared, modelOut);
        expect(out.update).toBeUndefined();
        expect(out.create).toHaveLength(2);
        const ra = out.create[0] as RiskAssessment;
        expect(ra.prediction).toBeUndefined();
        expect(ra.note).toEqual([
          { text: 'Imputed as the model card says: serum_cholesterol, fasting_glucose_gt_120, resting_ecg, max_heart_rate, exercise_angina, st_depression, st_slope, major_vessels, thal' },
          { text: 'Too little is known for a meaningful estimate: 4 of 13 inputs known; the model card asks for at least 8' },
        ]);
        expectOutputMarks(ra, input.jobId);
        expect(ra.basis?.map((b) => b.reference).sort()).toEqual(['Condition/c1', 'Patient/p1', `Observation/${o.chest.id}`, `Observation/${o.sbp.id}`].sort());
        expect((out.create[1] as Provenance).target).toEqual([{ reference: `RiskAssessment/${ra.id}` }]);
      }
    });

    it('names refused values in the notes', () => {
      const plugin = new DiagnosisPlugin(fakeRegistry().registry);
      const input = inputOf([...Object.values(cadObservations()), obs(LOINC, '8480-6', qty(1400, 'mm[Hg]'), { effectiveDateTime: '2024-05-31T10:00:00Z' })]);
      const prepared = plugin.prepare(cad, input);
      const ra = plugin.outputs(cad, input, prepared, { probability: [0.5] }).create[0] as RiskAssessment;
      expect(ra.note?.map((n) => n.text)).toEqual([
        'Imputed as the model card says: resting_systolic_bp, st_slope, major_vessels, thal',
        'resting_systolic_bp: 1400 mm[Hg] is implausible (plausible: 0 to 400 mm[Hg]); treated as missing',
      ]);
    });

    it('makes no estimate from coded values the card does not allow, naming them as implausible and imputed', () => {
      const plugin = new DiagnosisPlugin(fakeRegistry().registry);
      const observations = [
        obs(LOINC, '8480-6', qty(130, 'mm[Hg]')),
        obs(LOINC, '2093-3', qty(240, 'mg/dL')),
        obs(CLEVELAND, 'chest-pain-type', { valueInteger: 9 }),
        obs(CLEVELAND, 'thallium-scan', { valueInteger: 9 }),
        obs(CLEVELAND, 'resting-ecg', { valueInteger: 5 }),
        obs(CLEVELAND, 'fluoroscopy-major-vessels', { valueInteger: 7 }),
      ];
      const input = { ...inputOf(observations), patient: { ...patient, birthDate: '1960-05-01' } };
      const prepared = plugin.prepare(cad, input);
      expect(prepared.kind).toBe('insufficient');
      const out = plugin.outputs(cad, input, prepared, undefined);
      const ra = out.create[0] as RiskAssessment;
      expect(ra.prediction).toBeUndefined();
      expect(out.create.filter((r) => r.resourceType === 'Task')).toEqual([]);
      expect(out.update).toBeUndefined();
      const notes = (ra.note ?? []).map((n) => n.text).join('\n');
      expect(notes).toMatch(/^Imputed as the model card says: .*chest_pain_type, .*resting_ecg, .*major_vessels, thal$/m);
      for (const line of ['chest_pain_type: 9 is implausible', 'thal: 9 is implausible', 'resting_ecg: 5 is implausible', 'major_vessels: 7 is implausible']) expect(notes).toContain(line);
      expect(notes).toMatch(/Too little is known for a meaningful estimate: 4 of 13 inputs known/);
    });

    describe('a newer prediction on the same Condition', () => {
      const pendingTask = (id: string, status: Task['status'] = 'requested') =>
        ({ resourceType: 'Task', id, meta: { source: AI_SOURCE, versionId: '1' }, status, intent: 'proposal', focus: { reference: 'Condition/c1' }, for: { reference: 'Patient/p1' } }) as Task & { id: string };

      it('reads the pending recommendations on the Condition as its context', async () => {
        const focusing = jest.fn(async () => [{ task: pendingTask('t1'), versionId: 1 }]);
        const plugin = new DiagnosisPlugin(fakeRegistry().registry, { focusing } as unknown as PendingRecommendations);
        expect(await plugin.context(condition())).toEqual({ pending: [{ task: pendingTask('t1'), versionId: 1 }] });
        expect(focusing).toHaveBeenCalledWith('Condition/c1');
      });

      it('cancels the pending recommendations it supersedes (If-Match their version) and proposes once, afresh', () => {
        const plugin = new DiagnosisPlugin(fakeRegistry().registry);
        const input = { ...inputOf(Object.values(cadObservations())), context: { pending: [{ task: pendingTask('t1'), versionId: 4 }] } };
        const out = plugin.outputs(cad, input, plugin.prepare(cad, input), { probability: [0.9] });
        const ra = out.create[0] as RiskAssessment;
        expect(out.supersede).toEqual([
          {
            versionId: 4,
            resource: {
              ...pendingTask('t1'),
              status: 'cancelled',
              statusReason: { text: `Superseded by a newer prediction (RiskAssessment/${ra.id}) on Condition/c1` },
              lastModified: NOW.toISOString(),
            },
          },
        ]);
        expect(out.create.filter((r) => r.resourceType === 'Task')).toHaveLength(1);
      });

      it('supersedes them also when the new prediction is below the threshold or has too little input', () => {
        const plugin = new DiagnosisPlugin(fakeRegistry().registry);
        const pending = { pending: [{ task: pendingTask('t1'), versionId: 2 }] };
        const low = { ...inputOf(Object.values(cadObservations())), context: pending };
        const lowOut = plugin.outputs(cad, low, plugin.prepare(cad, low), { probability: [0.2] });
        expect(lowOut.supersede?.map((s) => [s.resource.id, (s.resource as Task).status])).toEqual([['t1', 'cancelled']]);
        expect(lowOut.create.some((r) => r.resourceType === 'Task')).toBe(false);
        const few = { ...inputOf([]), context: pending };
        expect(plugin.outputs(cad, few, plugin.prepare(cad, few), undefined).supersede).toHaveLength(1);
      });

      it('supersedes nothing when none is pending', () => {
        const plugin = new DiagnosisPlugin(fakeRegistry().registry);
        const input = inputOf(Object.values(cadObservations()));
        expect(plugin.outputs(cad, input, plugin.prepare(cad, input), { probability: [0.9] }).supersede).toBeUndefined();
      });
    });

    it('writes no prediction and no update when the model gives no probability', () => {
      const plugin = new DiagnosisPlugin(fakeRegistry().registry);
      const input = inputOf(Object.values(cadObservations()));
      const prepared = plugin.prepare(cad, input);
      const out = plugin.outputs(cad, input, prepared, { logit: [0.2] });
      expect((out.create[0] as RiskAssessment).prediction).toBeUndefined();
      expect(out.update).toBeUndefined();
    });

    it('throws the reason of a failed preparation', () => {
      const plugin = new DiagnosisPlugin(fakeRegistry().registry);
      const fail: PreparedInput = { kind: 'fail', reason: 'no usable input' };
      expect(() => plugin.outputs(cad, inputOf([]), fail, { probability: [0.8] })).toThrow('no usable input');
    });
  });
});

describe('TriagePlugin', () => {
  const vital = (code: string, value: Partial<Observation>, over: Partial<Observation> = {}) =>
    obs(LOINC, code, value, { category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }], encounter: { reference: 'Encounter/e1' }, ...over });
  const vitals = () => ({
    rr: vital('9279-1', qty(24, '/min')),
    spo2: vital('59408-5', qty(91, '%')),
    bp: vital('85354-9', {
      component: [
        { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 98, code: 'mm[Hg]' } },
        { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: { value: 60, code: 'mm[Hg]' } },
      ],
    }),
    hr: vital('8867-4', qty(118, '/min')),
    temp: vital('8310-5', qty(101.3, '[degF]')),
  });
  const storeOf = (encounter?: Encounter, deleted = false) =>
    ({ readCurrent: jest.fn(async () => (encounter ? { json: JSON.stringify(encounter), deleted } : undefined)) }) as unknown as ResourceStore;
  const emergency: Encounter = { resourceType: 'Encounter', id: 'e1', status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' } };
  const inputOf = (trigger: Observation, observations: Observation[]): PluginInput => ({
    job: job('triage', 'Observation', trigger.id!),
    jobId: `triage/Observation/${trigger.id}/_history/3`,
    resource: trigger,
    patient,
    observations,
  });

  it('recognises vital signs by category', () => {
    expect(isVitalSign(vital('8867-4', qty(80, '/min')))).toBe(true);
    expect(isVitalSign(obs(LOINC, '8867-4', qty(80, '/min')))).toBe(false);
  });

  it('triggers on a vital sign in an open emergency encounter, whatever its meta.source', async () => {
    const plugin = new TriagePlugin(fakeRegistry().registry, storeOf(emergency));
    const hr = vital('8867-4', qty(118, '/min'));
    expect(await plugin.triggers(event('Observation', hr.id!), hr)).toBe(true);
    expect(await plugin.triggers(event('Observation', hr.id!), { ...hr, meta: { source: AI_SOURCE } })).toBe(true);
    expect(await plugin.triggers(event('Observation', hr.id!), { ...hr, category: undefined })).toBe(false);
    expect(await new TriagePlugin(fakeRegistry().registry, storeOf({ ...emergency, status: 'finished' })).triggers(event('Observation', hr.id!), hr)).toBe(false);
    expect(await new TriagePlugin(fakeRegistry().registry, storeOf({ ...emergency, class: { code: 'AMB' } })).triggers(event('Observation', hr.id!), hr)).toBe(false);
  });

  describe('prepare', () => {
    it('builds the row from the latest vital signs (°F converted, systolic from the panel)', () => {
      const v = vitals();
      const prepared = new TriagePlugin(fakeRegistry().registry, storeOf()).prepare(news2, inputOf(v.hr, Object.values(v)));
      expect(prepared).toEqual({
        kind: 'run',
        row: { respiratory_rate: 24, spo2: 91, supplemental_oxygen: Number.NaN, systolic_bp: 98, pulse_rate: 118, consciousness: Number.NaN, temperature: expect.closeTo(38.5, 6) },
        basis: expect.arrayContaining(Object.values(v).map((x) => `Observation/${x.id}`)),
        imputed: ['supplemental_oxygen', 'consciousness'],
        problems: [],
      });
      if (prepared.kind !== 'run') throw new Error('not run');
      expect(prepared.basis).toHaveLength(5);
    });

    it('says why when fewer than minRealInputs vital signs are known', () => {
      const v = vitals();
      const prepared = new TriagePlugin(fakeRegistry().registry, storeOf()).prepare(news2, inputOf(v.hr, [v.rr, v.spo2, v.hr, v.temp]));
      expect(prepared).toMatchObject({
        kind: 'insufficient',
        imputed: ['supplemental_oxygen', 'systolic_bp', 'consciousness'],
        problems: [],
        reason: '4 of 7 vital signs known; at least 5 are needed',
      });
    });
  });

  describe('outputs', () => {
    it('writes a triage RiskAssessment with the priority, its label and probability, and a Provenance', () => {
      const plugin = new TriagePlugin(fakeRegistry().registry, storeOf());
      const v = vitals();
      const input = inputOf(v.hr, Object.values(v));
      const prepared = plugin.prepare(news2, input);
      if (prepared.kind !== 'run') throw new Error('not run');
      const out = plugin.outputs(news2, input, prepared, { priority: [2], probabilities: [0.1, 0.7, 0.1, 0.05, 0.05] });
      expect(out.update).toBeUndefined();
      // priority 2 is urgent: a recommendation Task and an emergency Flag besides
      expect(out.create.map((r) => r.resourceType)).toEqual(['RiskAssessment', 'Provenance', 'Task', 'Flag']);
      const [ra, prov] = out.create as [RiskAssessment, Provenance];
      expect(ra).toEqual({
        resourceType: 'RiskAssessment',
        id: expect.stringMatching(UUID),
        meta: { source: AI_SOURCE },
        identifier: [{ system: AI_JOB_SYSTEM, value: input.jobId }],
        status: 'final',
        code: { coding: [{ system: TRIAGE_SYSTEM, code: 'triage' }], text: 'Triage priority' },
        subject: { reference: 'Patient/p1' },
        encounter: { reference: 'Encounter/e1' },
        occurrenceDateTime: NOW.toISOString(),
        performer: { reference: 'Device/triage-news2-1.0.0' },
        method: { text: 'Triage priority from vital signs (imitates NEWS2) (triage-news2 1.0.0)' },
        basis: expect.any(Array),
        prediction: [
          {
            outcome: { coding: [{ system: TRIAGE_SYSTEM, code: '2', display: 'priority 2: very urgent (NEWS2 5-6, or a single parameter scoring 3)' }], text: 'Priority 2' },
            probabilityDecimal: 0.7,
            qualitativeRisk: { text: 'urgent' },
          },
        ],
        note: [{ text: 'Imputed as the model card says: supplemental_oxygen, consciousness' }],
      });
      expect(new Set(ra.basis!.map((b) => b.reference))).toEqual(new Set(Object.values(v).map((x) => `Observation/${x.id}`)));
      expect(ra.basis![0]).toEqual({ reference: `Observation/${v.hr.id}` });
      expectProvenance(prov, ra, news2, [`Observation/${v.hr.id}`, ...prepared.basis]);
      // the trigger is also one of the inputs: listed once among the Provenance's entities
      expect(prov.entity).toHaveLength(5);

      // the assessment projects onto the triage table
      expect(triageMapper.toRows(ra, fakeCtx)[0].values).toMatchObject({ patient_id: 'p1', priority_score: 2, ai_predicted: true, ai_model_id: 'triage-news2-1.0.0' });
    });

    it('lists each basis reference once, the trigger being also one of the vital signs used', () => {
      const plugin = new TriagePlugin(fakeRegistry().registry, storeOf());
      const v = vitals();
      const input = inputOf(v.hr, Object.values(v));
      const prepared = plugin.prepare(news2, input);
      const ra = plugin.outputs(news2, input, prepared, { priority: [2], probabilities: [0.1, 0.7, 0.1, 0.05, 0.05] }).create[0] as RiskAssessment;
      const refs = ra.basis!.map((b) => b.reference);
      expect(refs).toHaveLength(new Set(refs).size);
      expect(refs).toHaveLength(5);
    });

    it('calls priorities 3 to 5 not urgent', () => {
      const plugin = new TriagePlugin(fakeRegistry().registry, storeOf());
      const v = vitals();
      const input = inputOf(v.hr, Object.values(v));
      const prepared = plugin.prepare(news2, input);
      const ra = plugin.outputs(news2, input, prepared, { priority: [4], probabilities: [0.01, 0.02, 0.07, 0.85, 0.05] }).create[0] as RiskAssessment;
      expect(ra.prediction).toEqual([
        {
          outcome: { coding: [{ system: TRIAGE_SYSTEM, code: '4', display: 'priority 4: standard (NEWS2 1-2)' }], text: 'Priority 4' },
          probabilityDecimal: 0.85,
          qualitativeRisk: { text: 'not urgent' },
        },
      ]);
    });

    it('writes no prediction for a priority outside 1..5 or a missing one', () => {
      const plugin = new TriagePlugin(fakeRegistry().registry, storeOf());
      const v = vitals();
      const input = inputOf(v.hr, Object.values(v));
      const prepared = plugin.prepare(news2, input);
      for (const modelOut of [{ priority: [0] }, { priority: [6] }, { probabilities: [0.2, 0.2, 0.2, 0.2, 0.2] }, undefined] as Array<ModelOutputs | undefined>) {
        expect((plugin.outputs(news2, input, prepared, modelOut).create[0] as RiskAssessment).prediction).toBeUndefined();
      }
    });

    it('writes no prediction when too little is known, only a note saying why', () => {
      const plugin = new TriagePlugin(fakeRegistry().registry, storeOf());
      const v = vitals();
      const input = inputOf(v.hr, [v.hr, v.rr]);
      const prepared = plugin.prepare(news2, input);
      expect(prepared.kind).toBe('insufficient');
      const out = plugin.outputs(news2, input, prepared, { priority: [1], probabilities: [0.9, 0.1, 0, 0, 0] });
      const [ra, prov] = out.create as [RiskAssessment, Provenance];
      expect(ra.prediction).toBeUndefined();
      expect(ra.note).toEqual([
        { text: 'Imputed as the model card says: spo2, supplemental_oxygen, systolic_bp, consciousness, temperature' },
        { text: 'Too little is known for a triage: 2 of 7 vital signs known; at least 5 are needed' },
      ]);
      expectOutputMarks(ra, input.jobId);
      expect(prov.agent[0].who).toEqual({ reference: 'Device/triage-news2-1.0.0', display: 'triage-news2 1.0.0' });
      // still a triage row, without a priority
      expect(triageMapper.toRows(ra, fakeCtx)[0].values).toMatchObject({ priority_score: null, ai_predicted: true });
    });

    it('throws the reason of a failed preparation', () => {
      const plugin = new TriagePlugin(fakeRegistry().registry, storeOf());
      const v = vitals();
      expect(() => plugin.outputs(news2, inputOf(v.hr, []), { kind: 'fail', reason: 'nothing' }, { priority: [1] })).toThrow('nothing');
    });
  });
});

describe('SentimentPlugin', () => {
  const feedback = (over: Partial<QuestionnaireResponse> = {}): QuestionnaireResponse => ({
    resourceType: 'QuestionnaireResponse',
    id: 'fb1',
    status: 'completed',
    subject: { reference: 'Patient/p1' },
    authored: '2024-05-30T10:00:00Z',
    item: [
      { linkId: 'rating', answer: [{ valueInteger: 5 }] },
      { linkId: 'comments', answer: [{ valueString: '  The nurses were wonderful.  ' }] },
    ],
    ...over,
  });
  const session = (over: Partial<Communication> = {}): Communication => ({
    resourceType: 'Communication',
    id: 'cm1',
    status: 'completed',
    subject: { reference: 'Patient/p1' },
    payload: [{ contentString: 'I feel hopeless.' }],
    ...over,
  });
  const inputOf = (resource: QuestionnaireResponse | Communication): PluginInput => ({
    job: job('sentiment', resource.resourceType, resource.id!),
    jobId: `sentiment/${resource.resourceType}/${resource.id}/_history/3`,
    resource,
    observations: [],
  });
  /** A model that knows these words (its matched_ngrams for a word alone: 1 if known, else 0). */
  const ENGLISH = new Set(['the', 'nurses', 'were', 'wonderful', 'i', 'feel', 'hopeless', 'die', 'war']);
  const inference = { runTexts: jest.fn(async (_m: unknown, _s: unknown, _b: unknown, texts: readonly string[]) => ({ matched_ngrams: texts.map((w) => (ENGLISH.has(w) ? 1 : 0)) })) };
  const plugin = () => new SentimentPlugin(fakeRegistry().registry, inference);

  describe('triggers', () => {
    it('triggers on feedback with comments and on a Communication with text', () => {
      expect(plugin().triggers(event('QuestionnaireResponse', 'fb1'), feedback())).toBe(true);
      expect(plugin().triggers(event('Communication', 'cm1'), session())).toBe(true);
    });

    it('judges the content, not meta.source (the AI\'s own writes are passed over by their outbox actor)', () => {
      expect(plugin().triggers(event('QuestionnaireResponse', 'fb1'), feedback({ meta: { source: AI_SOURCE } }))).toBe(true);
      expect(plugin().triggers(event('Communication', 'cm1'), session({ meta: { source: AI_SOURCE, versionId: '2' } }))).toBe(true);
      expect(plugin().triggers(event('QuestionnaireResponse', 'fb1'), feedback({ meta: { source: 'http://example.org/app' } }))).toBe(true);
    });

    it('does not trigger without text, or on other resource types', () => {
      expect(plugin().triggers(event('QuestionnaireResponse', 'fb1'), feedback({ item: [{ linkId: 'rating', answer: [{ valueInteger: 5 }] }] }))).toBe(false);
      expect(plugin().triggers(event('Communication', 'cm1'), session({ payload: [{ contentAttachment: { url: 'http://example.org/a.png' } }] }))).toBe(false);
      const o = obs(LOINC, '8867-4', { valueString: 'comments' });
      expect(plugin().triggers(event('Observation', o.id!), o)).toBe(false);
    });

    it('asks the registry for the active sentiment model', async () => {
      const { registry, fake } = fakeRegistry();
      expect(await new SentimentPlugin(registry, inference).model()).toBe(sentimentModel);
      expect(fake.active).toHaveBeenCalledWith('sentiment');
    });
  });

  describe('prepare', () => {
    it('gives the trimmed text', () => {
      expect(plugin().prepare(sentimentModel, inputOf(feedback()))).toEqual({ kind: 'run', row: { text: 'The nurses were wonderful.' }, basis: [], imputed: [], problems: [] });
      expect(plugin().prepare(sentimentModel, inputOf(session({ payload: [{ contentString: 'One.' }, { contentString: 'Two.' }] })))).toMatchObject({ kind: 'run', row: { text: 'One.\nTwo.' } });
    });

    it("asks the model which of the text's words it knows, each distinct word once, in one batch", async () => {
      inference.runTexts.mockClear();
      expect(await plugin().context(feedback({ item: [{ linkId: 'comments', answer: [{ valueString: 'The nurses, the NURSES were wonderfull 3 times' }] }] }), sentimentModel)).toEqual({ knownWords: ['the', 'nurses', 'were'] });
      expect(inference.runTexts).toHaveBeenCalledTimes(1);
      expect(inference.runTexts.mock.calls[0][3]).toEqual(['the', 'nurses', 'were', 'wonderfull', 'times']);
    });

    it('refuses text evidently not English (too few known words), with the reason', async () => {
      const p = plugin();
      const german = inputOf(feedback({ item: [{ linkId: 'comments', answer: [{ valueString: 'Die Behandlung war eine Katastrophe, ich bin sehr enttäuscht' }] }] }));
      const prepared = p.prepare(sentimentModel, { ...german, context: await p.context(german.resource, sentimentModel) });
      expect(prepared).toEqual({
        kind: 'fail',
        reason: 'QuestionnaireResponse/fb1: only 2 of 9 words (22 %) are known to the model, at least 40 % are needed (it reads English only); no score written',
      });
      const english = inputOf(feedback());
      expect(p.prepare(sentimentModel, { ...english, context: await p.context(english.resource, sentimentModel) })).toMatchObject({ kind: 'run' });
    });

    it('fails with the reason when there is no text', () => {
      expect(plugin().prepare(sentimentModel, inputOf(feedback({ item: [{ linkId: 'comments', answer: [{ valueString: '   ' }] }] })))).toEqual({
        kind: 'fail',
        reason: 'QuestionnaireResponse/fb1 has no text to score',
      });
      expect(plugin().prepare(sentimentModel, inputOf(session({ payload: [] })))).toEqual({ kind: 'fail', reason: 'Communication/cm1 has no text to score' });
    });
  });

  describe('outputs', () => {
    it('writes a sentiment Observation derived from feedback, its Provenance, and the score on the feedback', () => {
      const input = inputOf(feedback({ extension: [{ url: 'http://example.org/keep-me', valueString: 'kept' }] }));
      const p = plugin();
      const out = p.outputs(sentimentModel, input, p.prepare(sentimentModel, input), { score: [0.61237], probability: [0.8], matched_ngrams: [3] });
      const [o, prov] = out.create as [Observation, Provenance];
      expect(o).toEqual({
        resourceType: 'Observation',
        id: expect.stringMatching(UUID),
        meta: { source: AI_SOURCE },
        identifier: [{ system: AI_JOB_SYSTEM, value: 'sentiment/QuestionnaireResponse/fb1/_history/3' }],
        status: 'final',
        code: { coding: [SENTIMENT_CODE], text: 'Sentiment score' },
        subject: { reference: 'Patient/p1' },
        effectiveDateTime: NOW.toISOString(),
        device: { reference: 'Device/sentiment-uci-1.0.0' },
        valueQuantity: { value: 0.6124, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
        derivedFrom: [{ reference: 'QuestionnaireResponse/fb1' }],
      });
      expectProvenance(prov, o, sentimentModel, ['QuestionnaireResponse/fb1']);
      expect(out.update).toEqual({
        ...feedback(),
        meta: { source: AI_SOURCE },
        extension: [
          { url: 'http://example.org/keep-me', valueString: 'kept' },
          { url: AI_SENTIMENT_EXTENSION_URL, valueDecimal: 0.6124 },
          { url: AI_MODEL_EXTENSION_URL, valueReference: { reference: 'Device/sentiment-uci-1.0.0' } },
        ],
      });
      // the update is the AI's (its actor): no trigger again; it projects the score onto feedback
      expect(AiTaskRunner.prototype.mayTrigger({ action: 'update', actor: 'system:ai:sentiment-uci-1.0.0' })).toBe(false);
      expect(feedbackMapper.toRows(out.update as QuestionnaireResponse, fakeCtx)[0].values).toMatchObject({ sentiment_score: 0.61, ai_model_id: 'sentiment-uci-1.0.0' });
    });

    it('points at a Communication with focus, and replaces an earlier score', () => {
      const earlier = session({
        meta: { versionId: '2', source: AI_SOURCE },
        extension: [
          { url: AI_SENTIMENT_EXTENSION_URL, valueDecimal: 0.9 },
          { url: AI_MODEL_EXTENSION_URL, valueReference: { reference: 'Device/sentiment-uci-0.9.0' } },
        ],
      });
      const input = inputOf(earlier);
      const p = plugin();
      const out = p.outputs(sentimentModel, input, p.prepare(sentimentModel, input), { score: [-0.6], matched_ngrams: [3] });
      const o = out.create[0] as Observation;
      expect(o.focus).toEqual([{ reference: 'Communication/cm1' }]);
      expect(o.derivedFrom).toBeUndefined();
      expect(o.valueQuantity?.value).toBe(-0.6);
      expectOutputMarks(o, input.jobId);
      expect((out.update as Communication).extension).toEqual([
        { url: AI_SENTIMENT_EXTENSION_URL, valueDecimal: -0.6 },
        { url: AI_MODEL_EXTENSION_URL, valueReference: { reference: 'Device/sentiment-uci-1.0.0' } },
      ]);
      expect((out.update as Communication).meta).toEqual({ versionId: '2', source: AI_SOURCE });
      expect(therapySessionMapper.toRows(out.update as Communication, fakeCtx)[0].values).toMatchObject({ sentiment_analysis: -0.6, ai_model_id: 'sentiment-uci-1.0.0' });
    });

    it('writes no subject when the source has none', () => {
      const input = inputOf(session({ subject: undefined }));
      const p = plugin();
      const o = p.outputs(sentimentModel, input, p.prepare(sentimentModel, input), { score: [0.1], matched_ngrams: [1] }).create[0] as Observation;
      expect(o).not.toHaveProperty('subject');
    });

    it('throws, writing nothing, when the text holds no word the model knows (matched_ngrams 0)', () => {
      const input = inputOf(feedback());
      const p = plugin();
      const prepared = p.prepare(sentimentModel, input);
      expect(() => p.outputs(sentimentModel, input, prepared, { score: [0], probability: [0.5], matched_ngrams: [0] })).toThrow(
        'QuestionnaireResponse/fb1: the text holds no word the model knows (not English?); no score written',
      );
    });

    it('throws when the model gives no score', () => {
      const input = inputOf(feedback());
      const p = plugin();
      const prepared = p.prepare(sentimentModel, input);
      for (const modelOut of [undefined, {}, { score: [] }, { score: [Number.NaN], matched_ngrams: [3] }] as Array<ModelOutputs | undefined>) {
        expect(() => p.outputs(sentimentModel, input, prepared, modelOut)).toThrow('sentiment-uci-1.0.0 gave no score');
      }
    });
  });
});

describe('observationCodesOf (which Observations the runner loads)', () => {
  // Imported here, not at the top: the runner module brings Nest providers with it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { observationCodesOf } = require('../ai-task.runner') as typeof import('../ai-task.runner');
  const model = (id: string) => ({ id }) as RegisteredModel;
  const condition = { resourceType: 'Condition' } as Condition;

  it('is the union of what the active and shadow versions read', () => {
    const plugin = { observationCodes: (m: RegisteredModel) => (m.id === 'a' ? ['1', '2'] : ['2', '3']) };
    expect(observationCodesOf(plugin, [model('a'), model('b')], condition)?.sort()).toEqual(['1', '2', '3']);
  });

  it('is everything when the plugin does not say, or one version reads everything', () => {
    expect(observationCodesOf({}, [model('a')], condition)).toBeUndefined();
    const plugin = { observationCodes: (m: RegisteredModel) => (m.id === 'a' ? ['1'] : undefined) };
    expect(observationCodesOf(plugin, [model('a'), model('b')], condition)).toBeUndefined();
  });
});
