/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, type Json } from '../helpers/fhir-api';
import { patient } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { AiTaskRunner } from '../../src/ai/ai-task.runner';
import { CAD, clevelandInteger, highRiskCadObservations, quantity } from '../helpers/ai-fixtures';
import { Queue, type Job } from 'bullmq';
import { QUEUES } from '../../src/queue/queues';
import { bullPrefix } from '../../src/queue/redis.provider';

/**
 * The AI plugins end to end: a write through the API, the outbox, the resource-events queue, the
 * fan-out to ai-tasks, the ONNX model in the worker, and the outputs written back through the one
 * write path with their Provenance, once per input version.
 */
const AI_JOB = 'urn:fhir-ai-server:ai-job';

let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let pg: Client;
let queues: Queue[] = [];

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  pg = await rawClient(t.db.url);
  const u = new URL(t.config.redisUrl);
  queues = [QUEUES.resourceEvents, QUEUES.aiTasks].map((name) => new Queue(name, { connection: { host: u.hostname, port: Number(u.port) }, prefix: bullPrefix(t.config.queuePrefix) }));
}, 60000);

afterAll(async () => {
  for (const q of queues) await q.close();
  await pg?.end();
  await worker?.close();
  await t?.close();
});

async function create(resource: Json): Promise<Json> {
  return expectStatus(await api.create(resource), 201).body as Json;
}



/** The ids of the Provenances `Provenance?target=` finds for a reference. */
async function provenancesOf(target: string): Promise<string[]> {
  const res = expectStatus(await api.search('Provenance', { target }), 200).body;
  return ((res.entry ?? []) as Json[]).map((e) => e.resource.id);
}

async function outputsFor(type: string, trigger: string): Promise<Json[]> {
  const res = expectStatus(await api.search(type, { identifier: `${AI_JOB}|`, _count: '50' }), 200);
  return ((res.body.entry ?? []) as Json[]).map((e) => e.resource).filter((r: Json) => (r.identifier ?? []).some((i: Json) => String(i.value).includes(trigger)));
}

describe('diagnosis confidence', () => {
  it('scores a CAD Condition from the patient\'s Observations: RiskAssessment, Provenance, the Condition and diagnoses', async () => {
    const p = await create(patient({ gender: 'male', birthDate: '1960-01-01' }));
    await highRiskCadObservations(api, p.id);
    const condition = await create({ resourceType: 'Condition', subject: { reference: `Patient/${p.id}` }, code: { coding: [CAD] } });

    const [ra] = await waitFor('a RiskAssessment for the Condition', async () => {
      const found = await outputsFor('RiskAssessment', `Condition/${condition.id}/`);
      return found.length ? found : undefined;
    }, 30000);
    const probability = ra.prediction[0].probabilityDecimal;
    expect(probability).toBeGreaterThan(0.5); // a textbook high-risk profile
    expect(probability).toBeLessThanOrEqual(1);
    expect(ra.condition.reference).toBe(`Condition/${condition.id}`);
    expect(ra.performer.reference).toBe('Device/cad-cleveland-1.0.0');
    expect(ra.basis.map((b: Json) => b.reference)).toEqual(expect.arrayContaining([`Condition/${condition.id}`, `Patient/${p.id}`]));
    expect(ra.note.map((n: Json) => n.text).join(' ')).toMatch(/Imputed.*st_depression/);

    const prov = expectStatus(await api.search('Provenance', { target: `RiskAssessment/${ra.id}` }), 200).body.entry.map((e: Json) => e.resource);
    expect(prov).toHaveLength(1);
    expect(prov[0].agent[0].who.reference).toBe('Device/cad-cleveland-1.0.0');
    expect(expectStatus(await api.read('Device', 'cad-cleveland-1.0.0'), 200).body.version[0].value).toBe('1.0.0');

    const scored = await waitFor('the confidence on the Condition', async () => {
      const c = (await api.read('Condition', condition.id)).body as Json;
      return c.extension?.length ? c : undefined;
    });
    expect(scored.meta.source).toBe('urn:fhir-ai-server:ai-worker');
    const { rows } = await pg.query('SELECT confidence_score, ai_model_id, ai_supported FROM diagnoses WHERE id = $1', [condition.id]);
    expect(Number(rows[0].confidence_score)).toBeCloseTo(probability, 2);
    expect(rows[0].ai_model_id).toBe('cad-cleveland-1.0.0');

    // Above the model card's threshold: a recommendation awaiting a clinician, never approved by the AI.
    const recs = expectStatus(await api.search('Task', { code: 'urn:fhir-ai-server:ai-task|recommendation', focus: `Condition/${condition.id}` }), 200).body.entry.map((e: Json) => e.resource);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ status: 'requested', intent: 'proposal', requester: { reference: 'Device/cad-cleveland-1.0.0' } });
    // The one Provenance of the job names everything it wrote: the Condition version carrying ai-confidence, the recommendation.
    expect(await provenancesOf(`Condition/${condition.id}`)).toEqual([prov[0].id]);
    expect(await provenancesOf(`Condition/${condition.id}/_history/2`)).toEqual([prov[0].id]);
    expect(await provenancesOf(`Task/${recs[0].id}`)).toEqual([prov[0].id]);
    expect(prov[0].target.map((t: Json) => t.reference)).toEqual(expect.arrayContaining([`Condition/${condition.id}/_history/2`, `Task/${recs[0].id}`]));
    const { rows: recRows } = await pg.query('SELECT diagnosis_id, approved_by_doctor, ai_generated, ai_model_id FROM recommendations WHERE patient_id = $1', [p.id]);
    expect(recRows).toEqual([{ diagnosis_id: condition.id, approved_by_doctor: false, ai_generated: true, ai_model_id: 'cad-cleveland-1.0.0' }]);

    // The AI's own update of the Condition triggers nothing, and a rerun of the job writes nothing new.
    const runner = worker.ctx.get(AiTaskRunner);
    const again = await runner.run({ task: 'diagnosis-confidence', resourceType: 'Condition', resourceId: condition.id, versionId: 1, patientId: p.id });
    expect(again.status).toBe('skipped');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await outputsFor('RiskAssessment', `Condition/${condition.id}/`)).toHaveLength(1);
  }, 60000);

  it('says so instead of giving a probability when too little is known', async () => {
    const p = await create(patient({ gender: 'female', birthDate: '1970-01-01' }));
    const condition = await create({ resourceType: 'Condition', subject: { reference: `Patient/${p.id}` }, code: { coding: [CAD] } });
    const [ra] = await waitFor('a RiskAssessment', async () => {
      const found = await outputsFor('RiskAssessment', `Condition/${condition.id}/`);
      return found.length ? found : undefined;
    }, 30000);
    expect(ra.prediction).toBeUndefined();
    expect(ra.note.map((n: Json) => n.text).join(' ')).toMatch(/Too little is known/);
    const c = (await api.read('Condition', condition.id)).body as Json;
    expect(c.extension).toBeUndefined();
  }, 60000);
});

describe('diagnosis confidence: implausible inputs, age, edits of the Condition', () => {
  const recommendationsOf = async (conditionId: string): Promise<Json[]> =>
    (expectStatus(await api.search('Task', { code: 'urn:fhir-ai-server:ai-task|recommendation', focus: `Condition/${conditionId}` }), 200).body.entry ?? []).map((e: Json) => e.resource);
  const assessments = (conditionId: string, n: number) =>
    waitFor(`${n} RiskAssessment(s) for the Condition`, async () => {
      const found = await outputsFor('RiskAssessment', `Condition/${conditionId}/`);
      return found.length >= n ? found : undefined;
    }, 30000);
  const dated = (o: Json, effectiveDateTime: string): Json => ({ ...o, effectiveDateTime });

  it('treats coded values outside the card\'s allowed values as missing, and takes the age when the inputs were made', async () => {
    // The outside tester's case: 4 of the 13 inputs are real, so no estimate and no recommendation.
    const p = await create(patient({ gender: 'male', birthDate: '1960-05-01' }));
    for (const o of [
      quantity(p.id, '8480-6', 130, 'mm[Hg]'),
      quantity(p.id, '2093-3', 240, 'mg/dL'),
      clevelandInteger(p.id, 'chest-pain-type', 9),
      clevelandInteger(p.id, 'thallium-scan', 9),
      clevelandInteger(p.id, 'resting-ecg', 5),
      clevelandInteger(p.id, 'fluoroscopy-major-vessels', 7),
    ]) {
      await create(dated(o, '2000-06-01T09:00:00Z'));
    }
    const first = await create({ resourceType: 'Condition', subject: { reference: `Patient/${p.id}` }, code: { coding: [CAD] } });
    const [ra] = await assessments(first.id, 1);
    expect(ra.prediction).toBeUndefined();
    const notes = ra.note.map((n: Json) => n.text).join('\n');
    for (const text of ['chest_pain_type: 9 is implausible', 'thal: 9 is implausible', 'resting_ecg: 5 is implausible', 'major_vessels: 7 is implausible', 'Too little is known']) expect(notes).toContain(text);
    expect(await recommendationsOf(first.id)).toEqual([]);

    // Valid values, made a day later: an estimate, with the age of 2000 (40), not of today.
    for (const [code, value] of [['chest-pain-type', 4], ['thallium-scan', 7], ['resting-ecg', 0], ['fluoroscopy-major-vessels', 2]] as const) {
      await create(dated(clevelandInteger(p.id, code, value), '2000-06-02T09:00:00Z'));
    }
    const second = await create({ resourceType: 'Condition', subject: { reference: `Patient/${p.id}` }, code: { coding: [CAD] } });
    const [scored] = await assessments(second.id, 1);
    expect(scored.prediction[0].probabilityDecimal).toEqual(expect.any(Number));
    const { rows } = await pg.query('SELECT inputs FROM ai_predictions WHERE job_id = $1 AND NOT shadow', [`diagnosis-confidence/Condition/${second.id}/_history/1`]);
    expect(rows[0].inputs.age).toEqual({ value: 40, imputed: false });
    expect(rows[0].inputs.thal).toEqual({ value: 7, imputed: false });
  }, 90000);

  it('scores an edited Condition again, superseding its pending recommendation, and leaves a resolved one alone', async () => {
    const p = await create(patient({ gender: 'male', birthDate: '1960-01-01' }));
    await highRiskCadObservations(api, p.id);
    const condition = await create({ resourceType: 'Condition', subject: { reference: `Patient/${p.id}` }, code: { coding: [CAD] } });
    const [first] = await assessments(condition.id, 1);
    const [pending] = await waitFor('the first recommendation', async () => {
      const found = await recommendationsOf(condition.id);
      return found.length ? found : undefined;
    });
    expect(pending.status).toBe('requested');
    await waitFor('the confidence written back', async () => ((await api.read('Condition', condition.id)).body.extension?.length ? true : undefined));

    // A clinician adds a note: one new RiskAssessment, and still one pending recommendation (the new one).
    const { meta: _meta, ...current } = (await api.read('Condition', condition.id)).body as Json;
    await api.updated({ ...current, note: [{ text: 'Seen in clinic; no change.' }] });
    const both = await assessments(condition.id, 2);
    const second = both.find((r) => r.id !== first.id) as Json;
    const recs = await waitFor('the earlier recommendation superseded', async () => {
      const found = await recommendationsOf(condition.id);
      return found.length === 2 && found.some((t) => t.status === 'cancelled') ? found : undefined;
    });
    expect(recs.filter((t) => t.status === 'requested')).toHaveLength(1);
    const fresh = recs.find((t) => t.status === 'requested') as Json;
    expect(fresh.reasonReference.reference).toBe(`RiskAssessment/${second.id}`);
    const cancelled = recs.find((t) => t.status === 'cancelled') as Json;
    expect(cancelled.id).toBe(pending.id);
    expect(cancelled.statusReason.text).toContain(`RiskAssessment/${second.id}`);
    const pendingApi = expectStatus(await request(t.app.getHttpServer()).get(`/api/recommendations?patient=Patient/${p.id}`).set('Authorization', `Bearer ${t.token}`), 200).body;
    expect(pendingApi.items.map((i: Json) => i.id)).toEqual([fresh.id]);

    // Resolved: no new prediction, no new recommendation.
    await waitFor('the confidence written back again', async () => {
      const c = (await api.read('Condition', condition.id)).body as Json;
      return c.meta.source === 'urn:fhir-ai-server:ai-worker' && Number(c.meta.versionId) >= 4 ? true : undefined;
    });
    const { meta: _meta2, ...again } = (await api.read('Condition', condition.id)).body as Json;
    const resolved = await api.updated({ ...again, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'resolved' }] } });
    const runner = worker.ctx.get(AiTaskRunner);
    const jobs = await runner.jobsFor({ id: 'x', action: 'update', resourceType: 'Condition', resourceId: condition.id, versionId: Number(resolved.meta.versionId), patientId: p.id, actor: 'client:test' });
    expect(jobs).toEqual([]);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await outputsFor('RiskAssessment', `Condition/${condition.id}/`)).toHaveLength(2);
    expect((await recommendationsOf(condition.id)).filter((t) => t.status === 'requested')).toHaveLength(1);
  }, 90000);
});

describe('sentiment', () => {
  async function scoreOf(resource: Json): Promise<number> {
    const created = await create(resource);
    const [obs] = await waitFor('a sentiment Observation', async () => {
      const found = await outputsFor('Observation', `${resource.resourceType}/${created.id}/`);
      return found.length ? found : undefined;
    }, 30000);
    const link = obs.derivedFrom?.[0]?.reference ?? obs.focus?.[0]?.reference;
    expect(link).toBe(`${resource.resourceType}/${created.id}`);
    // The text's version carrying ai-sentiment is named by the Provenance of the score.
    const [prov] = await provenancesOf(`Observation/${obs.id}`);
    expect(await provenancesOf(`${resource.resourceType}/${created.id}`)).toEqual([prov]);
    expect(await provenancesOf(`${resource.resourceType}/${created.id}/_history/2`)).toEqual([prov]);
    return obs.valueQuantity.value;
  }

  it('scores feedback comments and therapy-session text in [-1, 1]', async () => {
    const p = await create(patient());
    const feedback = (text: string): Json => ({
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      subject: { reference: `Patient/${p.id}` },
      item: [
        { linkId: 'rating', answer: [{ valueInteger: 5 }] },
        { linkId: 'comments', answer: [{ valueString: text }] },
      ],
    });
    expect(await scoreOf(feedback('The staff were wonderful, kind and very helpful. Great care!'))).toBeGreaterThan(0.3);
    expect(await scoreOf(feedback('Terrible experience, rude staff and awful waiting times. Very disappointed.'))).toBeLessThan(-0.3);
    const session = await scoreOf({
      resourceType: 'Communication',
      status: 'completed',
      subject: { reference: `Patient/${p.id}` },
      payload: [{ contentString: 'I feel much better this week, the exercises are really good.' }],
    });
    expect(session).toBeGreaterThan(0);
    expect(session).toBeLessThanOrEqual(1);

    // The scores reach the seed's tables through the scored resources.
    await waitFor('feedback rows with their sentiment', async () => {
      const { rows } = await pg.query('SELECT sentiment_score, ai_model_id, rating FROM feedback WHERE patient_id = $1 AND sentiment_score IS NOT NULL', [p.id]);
      return rows.length === 2 ? rows : undefined;
    });
    const { rows: sessions } = await pg.query('SELECT sentiment_analysis, ai_model_id FROM therapy_sessions WHERE patient_id = $1', [p.id]);
    expect(Number(sessions[0].sentiment_analysis)).toBeGreaterThan(0);
    expect(sessions[0].ai_model_id).toBe('sentiment-uci-1.0.0');
  }, 90000);

  /** Writes feedback with this comment and waits for its sentiment job to fail; the failed job. */
  async function refused(text: string): Promise<{ qr: Json; job: Job }> {
    const p = await create(patient());
    const qr = await create({
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      subject: { reference: `Patient/${p.id}` },
      item: [{ linkId: 'comments', answer: [{ valueString: text }] }],
    });
    const aiTasks = queues.find((q) => q.name === QUEUES.aiTasks) as Queue;
    const id = `sentiment/QuestionnaireResponse/${qr.id}/_history/1`;
    // Refused input is not retried: failed on its first attempt (a retry would wait a second first).
    await waitFor('the sentiment job to fail', async () => (await aiTasks.getJobState(id)) === 'failed', 15000, 100);
    const job = (await aiTasks.getJob(id)) as Job;
    expect(job.attemptsMade).toBe(1);
    expect(await outputsFor('Observation', `QuestionnaireResponse/${qr.id}/`)).toEqual([]);
    expect(((await api.read('QuestionnaireResponse', qr.id)).body as Json).extension).toBeUndefined();
    return { qr, job };
  }

  it('fails the job at once, visibly, for text with no word the model knows, writing nothing', async () => {
    const { qr, job } = await refused('zzqx vvbn qqwp');
    expect(job.failedReason).toBe(`QuestionnaireResponse/${qr.id}: only 0 of 3 words (0 %) are known to the model, at least 40 % are needed (it reads English only); no score written`);
  }, 30000);

  it('refuses text evidently not English instead of scoring a few stray words', async () => {
    const { qr, job } = await refused('Die Behandlung war eine Katastrophe, ich bin sehr enttäuscht');
    expect(job.failedReason).toMatch(new RegExp(`^QuestionnaireResponse/${qr.id}: only 2 of 9 words \\(22 %\\) are known to the model`));
  }, 30000);
});

describe('triage', () => {
  const VITALS_CATEGORY = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }];
  const CRITICAL: Array<[string, number, string]> = [
    ['9279-1', 26, '/min'],
    ['59408-5', 90, '%'],
    ['8480-6', 95, 'mm[Hg]'],
    ['8867-4', 125, '/min'],
    ['8310-5', 38.5, 'Cel'],
  ];
  /** Until every write is handed to the queues and no job waits, runs or is due for a retry. */
  async function idle(): Promise<void> {
    await waitFor('the outbox and the queues to be idle', async () => {
      const { rows } = await pg.query('SELECT count(*)::int AS n FROM outbox_events WHERE dispatched_at IS NULL');
      if (rows[0].n > 0) return false;
      for (const q of queues) {
        const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused', 'waiting-children');
        if (Object.values(counts).some((n) => n > 0)) return false;
      }
      return true;
    }, 30000, 100);
  }

  /** A patient, an in-progress emergency encounter and the vital signs in it, in one transaction Bundle (as an ED system sends them). */
  async function emergencyVisit(vitals: Array<[string, number, string]>): Promise<{ patientId: string; encounterId: string; observations: string[] }> {
    const entry = (n: string, resource: Json) => ({ fullUrl: `urn:uuid:${n}`, resource, request: { method: 'POST', url: resource.resourceType } });
    const p = '6f2e5c1a-0000-4000-8000-000000000001';
    const e = '6f2e5c1a-0000-4000-8000-000000000002';
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        entry(p, patient()),
        entry(e, { resourceType: 'Encounter', status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' }, subject: { reference: `urn:uuid:${p}` } }),
        ...vitals.map(([code, value, unit], i) =>
          entry(`6f2e5c1a-0000-4000-8000-00000000010${i}`, { ...quantity('x', code, value, unit), subject: { reference: `urn:uuid:${p}` }, category: VITALS_CATEGORY, encounter: { reference: `urn:uuid:${e}` } }),
        ),
      ],
    };
    const res = expectStatus(await api.bundle(bundle), 200).body as Json;
    const ids = (res.entry as Json[]).map((x) => String(x.response.location).split('/')[1]);
    return { patientId: ids[0], encounterId: ids[1], observations: ids.slice(2) };
  }

  async function triagesOf(patientId: string): Promise<Json[]> {
    const res = expectStatus(await api.search('RiskAssessment', { subject: `Patient/${patientId}`, _count: '50' }), 200).body;
    return ((res.entry ?? []) as Json[]).map((e) => e.resource);
  }

  /** What the AI wrote for a patient's triages: RiskAssessments, triage rows, emergency alerts (Flags), recommendations. */
  async function writtenFor(patientId: string): Promise<Record<string, number>> {
    const n = async (sql: string) => (await pg.query(sql, [patientId])).rows[0].n as number;
    const flags = expectStatus(await api.search('Flag', { patient: `Patient/${patientId}` }), 200).body.entry ?? [];
    const recs = expectStatus(await api.search('Task', { code: 'urn:fhir-ai-server:ai-task|recommendation', patient: `Patient/${patientId}` }), 200).body.entry ?? [];
    return {
      riskAssessments: (await triagesOf(patientId)).length,
      triageRows: await n('SELECT count(*)::int AS n FROM triage WHERE patient_id = $1'),
      alertRows: await n('SELECT count(*)::int AS n FROM emergency_alerts WHERE patient_id = $1'),
      flags: flags.length,
      recommendations: recs.length,
    };
  }

  async function requestTriage(patientId: string): Promise<string> {
    const res = await request(t.app.getHttpServer()).post(`/fhir/Patient/${patientId}/$triage`).set('Authorization', `Bearer ${t.token}`);
    expect(res.status).toBe(202);
    return /\/Task\/([^/]+)$/.exec(res.headers.location)?.[1] as string;
  }

  async function settled(taskId: string): Promise<Json> {
    return waitFor(`Task/${taskId} to be completed or failed`, async () => {
      const task = (await api.read('Task', taskId)).body as Json;
      return ['completed', 'failed'].includes(task.status) ? task : undefined;
    }, 60000);
  }

  async function triageOf(vitals: Array<[string, number, string]>): Promise<{ ra: Json; patientId: string; encounterId: string; observations: string[] }> {
    const visit = await emergencyVisit(vitals);
    const [ra] = await waitFor('a triage RiskAssessment', async () => {
      const found = await triagesOf(visit.patientId);
      return found.length ? found : undefined;
    }, 30000);
    return { ra, ...visit };
  }

  it('gives critical vital signs in an emergency encounter priority 1 or 2, and writes the triage row', async () => {
    const { ra, patientId } = await triageOf([
      ['9279-1', 32, '/min'],
      ['59408-5', 85, '%'],
      ['8480-6', 85, 'mm[Hg]'],
      ['8867-4', 140, '/min'],
      ['8310-5', 39.8, 'Cel'],
    ]);
    const priority = Number(ra.prediction[0].outcome.coding[0].code);
    expect(priority).toBeLessThanOrEqual(2);
    expect(ra.performer.reference).toBe('Device/triage-news2-1.0.0');
    const { rows } = await pg.query('SELECT priority_score, ai_model_id FROM triage WHERE patient_id = $1 AND id = $2', [patientId, ra.id]);
    expect(rows).toEqual([{ priority_score: priority, ai_model_id: 'triage-news2-1.0.0' }]);
    // Priority 1 or 2: an emergency alert and an urgent recommendation.
    await idle();
    const { rows: alerts } = await pg.query('SELECT response_status FROM emergency_alerts WHERE patient_id = $1', [patientId]);
    expect(alerts).toEqual([{ response_status: 'raised' }]);
    const recs = expectStatus(await api.search('Task', { code: 'urn:fhir-ai-server:ai-task|recommendation', focus: `RiskAssessment/${ra.id}` }), 200).body.entry.map((e: Json) => e.resource);
    expect(recs).toHaveLength(1);
    expect(['stat', 'asap']).toContain(recs[0].priority);
    // The alert and the recommendation are named by the assessment's Provenance.
    const flags = expectStatus(await api.search('Flag', { patient: `Patient/${patientId}` }), 200).body.entry.map((e: Json) => e.resource);
    const [prov] = await provenancesOf(`RiskAssessment/${ra.id}`);
    expect(prov).toBeDefined();
    expect(await provenancesOf(`Flag/${flags[0].id}`)).toEqual([prov]);
    expect(await provenancesOf(`Task/${recs[0].id}`)).toEqual([prov]);
  }, 60000);

  it('writes one result per input version: one for the vital signs of a Bundle, none for $triage on the same inputs, one for a new reading', async () => {
    const { ra, patientId, encounterId, observations } = await triageOf(CRITICAL);
    await idle();
    expect(await writtenFor(patientId)).toEqual({ riskAssessments: 1, triageRows: 1, alertRows: 1, flags: 1, recommendations: 1 });
    expect(Number(ra.prediction[0].outcome.coding[0].code)).toBe(1);
    expect(ra.basis.map((b: Json) => b.reference)).toEqual(expect.arrayContaining(observations.map((id) => `Observation/${id}`)));

    // Asked three times with no new vital sign: each request is answered with the same assessment.
    const tasks = [await requestTriage(patientId), await requestTriage(patientId), await requestTriage(patientId)];
    for (const id of tasks) {
      const done = await settled(id);
      expect({ id, status: done.status, output: done.output?.[0]?.valueReference?.reference }).toEqual({ id, status: 'completed', output: `RiskAssessment/${ra.id}` });
    }
    await idle();
    expect(await writtenFor(patientId)).toEqual({ riskAssessments: 1, triageRows: 1, alertRows: 1, flags: 1, recommendations: 1 });

    // The EHR adds an interpretation to a reading (a new version, the same value): the same inputs,
    // so no second assessment, alert or recommendation.
    const reading = expectStatus(await api.read('Observation', observations[0]), 200).body as Json;
    const interpreted = { ...reading, interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'A' }] }] };
    expect(expectStatus(await api.update(interpreted), 200).body.meta.versionId).toBe('2');
    const asked = await requestTriage(patientId);
    expect((await settled(asked)).output?.[0]?.valueReference?.reference).toBe(`RiskAssessment/${ra.id}`);
    await idle();
    expect(await writtenFor(patientId)).toEqual({ riskAssessments: 1, triageRows: 1, alertRows: 1, flags: 1, recommendations: 1 });

    // A new reading is a new input version: a new assessment.
    await create({ ...quantity(patientId, '8867-4', 150, '/min'), effectiveDateTime: '2024-05-01T10:15:00Z', category: VITALS_CATEGORY, encounter: { reference: `Encounter/${encounterId}` } });
    await waitFor('a second triage', async () => (await triagesOf(patientId)).length === 2, 30000);
    await idle();
    expect((await writtenFor(patientId)).riskAssessments).toBe(2);
  }, 120000);

  it('writes one result when jobs on the same inputs run at once in two workers', async () => {
    // Vital signs outside an emergency encounter trigger nothing: the jobs are run here, by hand.
    const p = await create(patient());
    const obs: Json[] = [];
    for (const [code, value, unit] of CRITICAL) obs.push(await create({ ...quantity(p.id, code, value, unit), category: VITALS_CATEGORY }));
    const second = await startTestWorker(t.config);
    try {
      const runners = [worker.ctx.get(AiTaskRunner), second.ctx.get(AiTaskRunner)];
      const results = await Promise.all(
        [...obs, ...obs].map((o, i) => runners[i % 2].run({ task: 'triage', resourceType: 'Observation', resourceId: o.id, versionId: 1, patientId: p.id }).then((r) => r.status)),
      );
      expect(results.filter((s) => s === 'written')).toHaveLength(1);
      expect(results.filter((s) => s === 'written' || s === 'reused' || s === 'skipped')).toHaveLength(results.length);
    } finally {
      await second.close();
    }
    expect(await writtenFor(p.id)).toEqual({ riskAssessments: 1, triageRows: 1, alertRows: 1, flags: 1, recommendations: 1 });
  }, 90000);

  it('runs a triage on request (POST Patient/$triage: 202 and a Task completed with the result)', async () => {
    const p = await create(patient());
    for (const [code, value, unit] of [
      ['9279-1', 30, '/min'],
      ['59408-5', 88, '%'],
      ['8480-6', 88, 'mm[Hg]'],
      ['8867-4', 135, '/min'],
      ['8310-5', 39.5, 'Cel'],
    ] as Array<[string, number, string]>) {
      await create({ ...quantity(p.id, code, value, unit), category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }] });
    }
    const res = await request(t.app.getHttpServer()).post(`/fhir/Patient/${p.id}/$triage`).set('Authorization', `Bearer ${t.token}`);
    expect(res.status).toBe(202);
    const taskId = /\/Task\/([^/]+)$/.exec(res.headers.location)?.[1] as string;
    const done = await waitFor('the triage Task to complete', async () => {
      const task = (await api.read('Task', taskId)).body as Json;
      return task.status === 'completed' ? task : undefined;
    }, 30000);
    const raRef = done.output[0].valueReference.reference as string;
    const ra = (await api.read('RiskAssessment', raRef.split('/')[1])).body as Json;
    expect(ra.basedOn.reference).toBe(`Task/${taskId}`);
    expect(await provenancesOf(`Task/${taskId}/_history/2`)).toEqual(await provenancesOf(`RiskAssessment/${ra.id}`));
    expect(Number(ra.prediction[0].outcome.coding[0].code)).toBeLessThanOrEqual(2);

    const missing = await request(t.app.getHttpServer()).post('/fhir/Patient/no-such-patient/$triage').set('Authorization', `Bearer ${t.token}`);
    expect(missing.status).toBe(404);
    expect(missing.body.resourceType).toBe('OperationOutcome');
  }, 60000);

  it('gives normal vital signs priority 4 or 5', async () => {
    const { ra } = await triageOf([
      ['9279-1', 14, '/min'],
      ['59408-5', 98, '%'],
      ['8480-6', 122, 'mm[Hg]'],
      ['8867-4', 72, '/min'],
      ['8310-5', 36.8, 'Cel'],
    ]);
    expect(Number(ra.prediction[0].outcome.coding[0].code)).toBeGreaterThanOrEqual(4);
    expect((await api.search('Task', { code: 'urn:fhir-ai-server:ai-task|recommendation', focus: `RiskAssessment/${ra.id}` })).body.entry ?? []).toEqual([]);
  }, 60000);
});
