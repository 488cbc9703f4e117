/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import { createHash, randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Client } from 'pg';
import request from 'supertest';
import { FhirApi, expectStatus, type Json } from '../helpers/fhir-api';
import { OwnRedis } from '../helpers/redis-server';
import { patient } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { WorkerProcess, buildForProcesses, processEnv, type TestBuild } from '../helpers/worker-process';
import { QUEUES } from '../../src/queue/queues';
import { bullPrefix } from '../../src/queue/redis.provider';
import { ModelRegistry } from '../../src/ai/model-registry.service';
import { CAD, LOINC, clevelandInteger as cleveland, quantity } from '../helpers/ai-fixtures';

/**
 * Nothing lost, nothing twice: AI triggers written while Redis crashes and comes back, and AI jobs
 * whose worker process is killed mid-job, each end with exactly one output; a model file that will
 * not load fails its jobs visibly, writes nothing, and leaves the API up.
 */
const AI_JOB = 'urn:fhir-ai-server:ai-job';
const CAD_MODEL = 'cad-cleveland-1.0.0';
const TRIAGE_MODEL = 'triage-news2-1.0.0';
const PENDING_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'paused', 'waiting-children'] as const;

const TEXTS = [
  'The staff were wonderful, kind and very helpful.',
  'Terrible experience, rude staff and awful waiting times.',
  'Great care, the nurses were friendly and the room was clean.',
  'Very disappointed, nobody answered my questions.',
];



/** A patient with enough Observations (with age and sex, 9 of the model card's 13; it needs 8) for a CAD probability. */
async function cadPatient(api: FhirApi, systolic: Json = {}): Promise<string> {
  const p = await api.created(patient({ gender: 'male', birthDate: '1958-03-01' }));
  for (const o of [
    { ...quantity(p.id, '8480-6', 150, 'mm[Hg]'), ...systolic },
    quantity(p.id, '2093-3', 260, 'mg/dL'),
    cleveland(p.id, 'chest-pain-type', 4),
    cleveland(p.id, 'max-heart-rate-exercise', 120),
    cleveland(p.id, 'exercise-induced-angina', 1),
    cleveland(p.id, 'fluoroscopy-major-vessels', 1),
    cleveland(p.id, 'thallium-scan', 7),
  ]) {
    await api.created(o);
  }
  return p.id;
}

function cadCondition(patientId: string): Json {
  return { resourceType: 'Condition', subject: { reference: `Patient/${patientId}` }, code: { coding: [CAD] } };
}

function feedback(patientId: string, i: number): Json {
  return {
    resourceType: 'QuestionnaireResponse',
    status: 'completed',
    subject: { reference: `Patient/${patientId}` },
    item: [
      { linkId: 'rating', answer: [{ valueInteger: 1 + (i % 5) }] },
      { linkId: 'comments', answer: [{ valueString: TEXTS[i % TEXTS.length] }] },
    ],
  };
}

/** The AI job a trigger's first version makes (src/ai/ai-task.runner.ts aiJobId). */
function jobIdOf(trigger: Json): string {
  const task = trigger.resourceType === 'Condition' ? 'diagnosis-confidence' : 'sentiment';
  return `${task}/${trigger.resourceType}/${trigger.id}/_history/1`;
}

/** Writes the triggers, `concurrency` at a time, each answered 201 (or the test fails naming the answer). */
async function writeAll(api: FhirApi, resources: Json[], concurrency = 4, onBatch?: (written: number) => void): Promise<Json[]> {
  const out: Json[] = [];
  for (let i = 0; i < resources.length; i += concurrency) {
    const answers = await Promise.all(resources.slice(i, i + concurrency).map((r) => api.create(r)));
    for (const res of answers) out.push(expectStatus(res, 201).body as Json);
    onBatch?.(out.length);
  }
  return out;
}

/** Every stored AI output (RiskAssessment, Observation) by the job identifier it carries. */
async function outputsByJob(pg: Client): Promise<Map<string, string[]>> {
  const { rows } = await pg.query<{ job: string; ref: string }>(
    `SELECT i->>'value' AS job, r.resource_type || '/' || r.id AS ref
       FROM fhir_patient_resource r CROSS JOIN LATERAL json_array_elements(r.content->'identifier') i
      WHERE r.resource_type IN ('RiskAssessment', 'Observation') AND NOT r.deleted AND i->>'system' = $1`,
    [AI_JOB],
  );
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.job, [...(out.get(r.job) ?? []), r.ref]);
  return out;
}

/** How many Provenances name each target. */
async function provenanceTargets(pg: Client): Promise<Map<string, number>> {
  const { rows } = await pg.query<{ target: string; n: string }>(
    `SELECT t->>'reference' AS target, count(*) AS n
       FROM (SELECT content FROM fhir_patient_resource WHERE resource_type = 'Provenance' AND NOT deleted
             UNION ALL SELECT content FROM fhir_resource WHERE resource_type = 'Provenance' AND NOT deleted) p
       CROSS JOIN LATERAL json_array_elements(p.content->'target') t
      GROUP BY 1`,
  );
  return new Map(rows.map((r) => [r.target, Number(r.n)]));
}

async function undispatched(pg: Client): Promise<number> {
  const { rows } = await pg.query<{ n: string }>('SELECT count(*) AS n FROM outbox_events WHERE dispatched_at IS NULL');
  return Number(rows[0].n);
}

/** Clients of the two queues an AI job goes through. */
function queues(redisUrl: string, queuePrefix: string): Queue[] {
  const u = new URL(redisUrl);
  return [QUEUES.resourceEvents, QUEUES.aiTasks].map((name) => new Queue(name, { connection: { host: u.hostname, port: Number(u.port) }, prefix: bullPrefix(queuePrefix) }));
}

/** Nothing left to do: the outbox drained and no job waiting, running or due for a retry. */
async function quiet(pg: Client, qs: Queue[]): Promise<boolean> {
  if ((await undispatched(pg)) > 0) return false;
  for (const q of qs) {
    const counts = await q.getJobCounts(...PENDING_STATES);
    if (Object.values(counts).some((n) => n > 0)) return false;
  }
  return true;
}

/**
 * Waits until every trigger has an output and all work is done, then asserts exactly one output
 * per job, none for any other job, and exactly one Provenance per output.
 */
async function expectExactlyOneOutputEach(pg: Client, qs: Queue[], triggers: Json[], timeoutMs: number): Promise<void> {
  const expected = triggers.map(jobIdOf).sort();
  await waitFor(`an output for each of ${expected.length} AI jobs`, async () => {
    const outputs = await outputsByJob(pg);
    return expected.every((j) => outputs.has(j));
  }, timeoutMs, 250);
  // Then until nothing is pending, so that a late second run of a job would be seen below.
  await waitFor('the outbox and the queues to be idle', () => quiet(pg, qs), timeoutMs, 250);

  const outputs = await outputsByJob(pg);
  const twice = [...outputs].filter(([, refs]) => refs.length !== 1);
  expect(twice).toEqual([]);
  expect([...outputs.keys()].sort()).toEqual(expected);
  const provenances = await provenanceTargets(pg);
  for (const [job, [ref]] of outputs) expect({ job, provenances: provenances.get(ref) ?? 0 }).toEqual({ job, provenances: 1 });
  for (const q of qs) expect({ queue: q.name, failed: await q.getFailedCount() }).toEqual({ queue: q.name, failed: 0 });
}

// The build for the worker processes runs while the first tests do.
let building: Promise<TestBuild> | undefined;
beforeAll(() => {
  building = buildForProcesses();
  building.catch(() => undefined); // reported where it is awaited
});
afterAll(async () => {
  (await building?.catch(() => undefined))?.remove();
}, 120000);

/**
 * A worker process on a TestApp's database and queues. Short locks and retry delays, so that a
 * dead worker's jobs go back to wait, and a worker resumes after a Redis error, within seconds
 * rather than BullMQ's 15-30 s.
 */
function startWorkerProcess(build: TestBuild, t: TestApp): WorkerProcess {
  return new WorkerProcess(
    build,
    processEnv(t, { AI_CONCURRENCY: '4', WORKER_LOCK_MS: '5000', WORKER_STALLED_INTERVAL_MS: '1000', WORKER_RETRY_MS: '1000', OUTBOX_POLL_MS: '250' }),
  );
}

describe('bad input: units and a model that will not load', () => {
  let t: TestApp | undefined;
  let worker: TestWorker | undefined;
  let api: FhirApi;
  let pg: Client | undefined;
  let qs: Queue[] = [];
  let aiTasks: Queue | undefined;

  beforeAll(async () => {
    t = await startTestApp();
    worker = await startTestWorker(t.config);
    api = new FhirApi(t);
    pg = await rawClient(t.db.url);
    qs = queues(t.config.redisUrl, t.config.queuePrefix);
    aiTasks = qs.find((q) => q.name === QUEUES.aiTasks);
  }, 60000);

  afterAll(async () => {
    for (const q of qs) {
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
    }
    await pg?.end();
    await worker?.close();
    await t?.close();
  }, 60000);

  // A value in a unit the model cannot convert is refused clearly rather than failing the whole
  // job: named in the RiskAssessment, left out of its basis and imputed as the model card says.
  it('refuses an Observation in a unit it cannot convert, saying so in the RiskAssessment, and imputes the value', async () => {
    const p = await cadPatient(api, { valueQuantity: { value: 2.9, unit: '[psi]', system: 'http://unitsofmeasure.org', code: '[psi]' } });
    const condition = await api.created(cadCondition(p));
    const job = jobIdOf(condition);
    const ref = await waitFor('the RiskAssessment', async () => (await outputsByJob(pg!)).get(job)?.[0], 30000);
    const ra = expectStatus(await api.read('RiskAssessment', ref.split('/')[1]), 200).body as Json;
    const notes = (ra.note as Json[]).map((n) => n.text).join('\n');
    expect(notes).toContain('resting_systolic_bp: unit "[psi]" cannot be converted to mm[Hg]; treated as missing');
    expect(notes).toMatch(/Imputed as the model card says: .*resting_systolic_bp/);
    // The refused Observation is not among the inputs used.
    const systolic = (expectStatus(await api.search('Observation', { subject: `Patient/${p}`, code: `${LOINC}|8480-6` }), 200).body.entry as Json[])[0].resource;
    expect((ra.basis as Json[]).map((b) => b.reference)).not.toContain(`Observation/${systolic.id}`);
    expect(typeof ra.prediction?.[0]?.probabilityDecimal).toBe('number');
  }, 60000);

  it('fails the job of a model file that will not load with its reason, writes nothing, and the API stays up', async () => {
    const p = await cadPatient(api);
    // Garbage in place of the active CAD model, under a new sha256 (sessions are cached by it).
    const garbage = randomBytes(4096);
    const sha = createHash('sha256').update(garbage).digest('hex');
    const updated = await pg!.query('UPDATE ai_models SET model_file = $1, sha256 = $2 WHERE id = $3 AND status = $4', [garbage, sha, CAD_MODEL, 'active']);
    expect(updated.rowCount).toBe(1);
    // The worker's registry caches the active version for a few seconds: wait until it sees the new file.
    const registry = worker!.ctx.get(ModelRegistry);
    await waitFor('the worker to see the new model file', async () => (await registry.active('diagnosis-confidence', `${CAD.system}|${CAD.code}`))?.sha256 === sha, 30000, 250);
    const provenancesBefore = [...(await provenanceTargets(pg!)).values()].reduce((a, b) => a + b, 0);

    const condition = await api.created(cadCondition(p));
    const job = jobIdOf(condition);
    // Five attempts with exponential backoff (1+2+4+8 s), then failed for good, with the reason.
    await waitFor('the job to fail after its attempts', async () => (await aiTasks!.getJobState(job)) === 'failed', 90000, 250);
    // Read once failed: a job read just before its last attempt ended still counts one attempt fewer.
    const failed = (await aiTasks!.getJob(job))!;
    expect(failed.attemptsMade).toBe(5);
    expect(failed.failedReason).toMatch(new RegExp(`^Model ${CAD_MODEL} \\(sha256 ${sha.slice(0, 12)}\\) could not be loaded: .*protobuf`, 'i'));

    // Nothing half-written: no RiskAssessment, no Provenance, no recommendation, the Condition and
    // its diagnoses row untouched.
    expect((await outputsByJob(pg!)).has(job)).toBe(false);
    const ras = expectStatus(await api.search('RiskAssessment', { subject: `Patient/${p}` }), 200).body;
    expect(ras.entry ?? []).toEqual([]);
    expect([...(await provenanceTargets(pg!)).values()].reduce((a, b) => a + b, 0)).toBe(provenancesBefore);
    const tasks = expectStatus(await api.search('Task', { focus: `Condition/${condition.id}` }), 200).body;
    expect(tasks.entry ?? []).toEqual([]);
    const { rows } = await pg!.query('SELECT confidence_score, ai_model_id FROM diagnoses WHERE id = $1', [condition.id]);
    expect(rows).toEqual([{ confidence_score: null, ai_model_id: null }]);

    // The API stays up.
    expect((await request(t!.app.getHttpServer()).get('/health')).status).toBe(200);
    const read = expectStatus(await api.read('Condition', condition.id), 200).body as Json;
    expect(read.meta.versionId).toBe('1');
    expect(read.extension).toBeUndefined();
  }, 150000);

  it('sets a requested triage whose job fails for good to failed, naming the reason', async () => {
    const p = await api.created(patient());
    // Enough vital signs for the model to run (outside an emergency encounter: they trigger nothing).
    for (const [code, value, unit] of [['9279-1', 26, '/min'], ['59408-5', 90, '%'], ['8480-6', 95, 'mm[Hg]'], ['8867-4', 125, '/min'], ['8310-5', 38.5, 'Cel']] as const) {
      await api.created({ ...quantity(p.id, code, value, unit), category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }] });
    }
    const garbage = randomBytes(4096);
    const sha = createHash('sha256').update(garbage).digest('hex');
    const updated = await pg!.query('UPDATE ai_models SET model_file = $1, sha256 = $2 WHERE id = $3 AND status = $4', [garbage, sha, TRIAGE_MODEL, 'active']);
    expect(updated.rowCount).toBe(1);
    const registry = worker!.ctx.get(ModelRegistry);
    await waitFor('the worker to see the new model file', async () => (await registry.active('triage'))?.sha256 === sha, 30000, 250);

    const res = await request(t!.app.getHttpServer()).post(`/fhir/Patient/${p.id}/$triage`).set('Authorization', `Bearer ${t!.token}`);
    expect(res.status).toBe(202);
    const taskId = /\/Task\/([^/]+)$/.exec(res.headers.location)?.[1] as string;
    const job = `triage/Task/${taskId}/_history/1`;
    await waitFor('the job to fail after its attempts', async () => (await aiTasks!.getJobState(job)) === 'failed', 90000, 250);
    expect((await aiTasks!.getJob(job))!.attemptsMade).toBe(5);
    // The Task is failed before the job is: a client polling it sees why.
    const task = expectStatus(await api.read('Task', taskId), 200).body as Json;
    const reason = new RegExp(`^Model ${TRIAGE_MODEL} \\(sha256 ${sha.slice(0, 12)}\\) could not be loaded: `);
    expect(task.status).toBe('failed');
    expect(task.statusReason.text).toMatch(reason);
    expect(task.output[0].valueString).toMatch(reason);
    expect(task.meta.versionId).toBe('2');
  }, 150000);
});

describe('Redis crashes while AI triggers are written', () => {
  let redis: OwnRedis | undefined;
  let t: TestApp | undefined;
  let worker: WorkerProcess | undefined;
  let api: FhirApi;
  let pg: Client | undefined;
  let qs: Queue[] = [];

  beforeAll(async () => {
    // A Redis of its own: the shared one on 6379 serves the other suites and is never stopped.
    redis = await OwnRedis.start();
    t = await startTestApp({ REDIS_URL: redis.url });
    api = new FhirApi(t);
    pg = await rawClient(t.db.url);
    worker = startWorkerProcess(await (building as Promise<TestBuild>), t);
    await worker.started;
  }, 120000);

  afterAll(async () => {
    await worker?.kill();
    await pg?.end();
    await Promise.all(qs.map((q) => q.close()));
    await t?.close();
    await redis?.dispose();
  }, 60000);

  it('answers 201 while Redis is down and ends with exactly one output per trigger once it is back', async () => {
    const patients = [await cadPatient(api), await cadPatient(api)];
    const mix = (n: number, from: number): Json[] =>
      Array.from({ length: n }, (_, i) => (i % 3 === 0 ? cadCondition(patients[(from + i) % 2]) : feedback(patients[(from + i) % 2], from + i)));

    // Before the crash: triggers go through the outbox and the queues as usual.
    const before = await writeAll(api, mix(9, 0));
    // The crash comes while writes are under way (and their jobs in flight).
    let landed = 0;
    const crossing = writeAll(api, mix(9, 9), 3, (n) => (landed = n));
    await waitFor('the first writes of the batch to land', async () => landed >= 3, 30000, 5);
    await redis!.kill();
    const across = await crossing;

    // Redis is down (the API says so) and writes still succeed: their events wait in the outbox.
    const health = await request(t!.app.getHttpServer()).get('/health');
    expect(health.status).toBe(503);
    expect(health.body.checks.redis.status).toBe('down');
    const during = await writeAll(api, mix(9, 18));
    expect(await undispatched(pg!)).toBeGreaterThanOrEqual(during.length);

    await redis!.start();
    const after = await writeAll(api, mix(6, 27));
    await waitFor('the API to see Redis again', async () => (await request(t!.app.getHttpServer()).get('/health')).status === 200, 30000);

    qs = queues(redis!.url, t!.config.queuePrefix);
    const triggers = [...before, ...across, ...during, ...after];
    expect(worker!.running).toBe(true);
    await expectExactlyOneOutputEach(pg!, qs, triggers, 60000);
    // The CAD Conditions got their probability written back (their diagnoses rows), once each.
    const { rows } = await pg!.query(`SELECT count(*) AS n FROM diagnoses WHERE patient_id = ANY($1) AND confidence_score IS NOT NULL`, [patients]);
    expect(Number(rows[0].n)).toBe(triggers.filter((r) => r.resourceType === 'Condition').length);
  }, 120000);
});

describe('a worker process killed mid-job', () => {
  let redis: OwnRedis | undefined;
  let control: Redis | undefined;
  let build: TestBuild | undefined;
  let t: TestApp | undefined;
  let api: FhirApi;
  let pg: Client | undefined;
  let qs: Queue[] = [];
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    // A Redis of its own, since the test pauses its writes.
    redis = await OwnRedis.start();
    control = new Redis(redis.url);
    [build, t] = await Promise.all([building as Promise<TestBuild>, startTestApp({ REDIS_URL: redis.url })]);
    api = new FhirApi(t);
    pg = await rawClient(t.db.url);
    qs = queues(t.config.redisUrl, t.config.queuePrefix);
  }, 120000);

  afterAll(async () => {
    for (const w of workers) await w.kill();
    await control?.call('CLIENT', 'UNPAUSE').catch(() => undefined);
    control?.disconnect();
    await Promise.all(qs.map((q) => q.close()));
    await pg?.end();
    await t?.close();
    await redis?.dispose();
  }, 60000);

  function startWorker(): WorkerProcess {
    const w = startWorkerProcess(build!, t!);
    workers.push(w);
    return w;
  }

  /**
   * Whether a session waits for another transaction (the runner's claim of its job: an insert of
   * the job's active ai_predictions row, unique per job, waits while another transaction holds it).
   */
  async function someoneWaitsForTheClaim(): Promise<boolean> {
    const { rows } = await pg!.query(`SELECT 1 FROM pg_locks l WHERE l.locktype = 'transactionid' AND NOT l.granted`);
    return rows.length > 0;
  }

  it('retries the jobs of a SIGKILLed worker in another one: every job ends with exactly one output', async () => {
    const patients = [await cadPatient(api), await cadPatient(api)];
    // Written before any worker runs: the first one starts with a full outbox on a fresh database
    // (its processors must not take jobs before the built-in models are registered: workers/processor-start.ts).
    const triggers = await writeAll(
      api,
      Array.from({ length: 48 }, (_, i) => (i % 4 === 0 ? cadCondition(patients[i % 2]) : feedback(patients[i % 2], i))),
    );
    const aiTasks = qs.find((q) => q.name === QUEUES.aiTasks) as Queue;

    // One job is held inside its write transaction (at the runner's claim of its job id, which
    // the test's own open transaction holds first): it will die mid-write.
    const held = jobIdOf(triggers[0]);
    const holder = await rawClient(t!.db.url);
    await holder.query('BEGIN');
    await holder.query(
      `INSERT INTO ai_predictions (model_id, job_id, patient_id, task, input_ref, shadow) VALUES ('cad-cleveland-1.0.0', $1, $2, 'diagnosis-confidence', $3, false)`,
      [held, patients[0], `Condition/${triggers[0].id}/_history/1`],
    );
    const first = startWorker();
    await waitFor('the held job to be running and blocked in its write', async () => {
      if (!first.running) throw new Error(`the first worker exited:\n${first.output}`);
      return (await aiTasks.getJobState(held)) === 'active' && (await someoneWaitsForTheClaim());
    }, 90000, 50);

    // Others are caught after their write but before they can tell Redis: Redis refuses writes
    // (CLIENT PAUSE WRITE), so they commit their outputs in PostgreSQL and wait to be acknowledged.
    let unacknowledged: string[] = [];
    let active: string[] = [];
    for (let round = 0; round < 20 && !unacknowledged.length; round++) {
      await waitFor('other AI jobs to run beside the held one', async () => (await aiTasks.getActiveCount()) >= 2, 60000, 5);
      await control!.call('CLIENT', 'PAUSE', '60000', 'WRITE');
      // A plain read: BullMQ's own reads are Lua scripts, which the pause holds back too.
      const running = (await control!.lrange(`${bullPrefix(t!.config.queuePrefix)}:${QUEUES.aiTasks}:active`, 0, -1)).filter((id) => id !== held);
      if (!running.length) {
        await control!.call('CLIENT', 'UNPAUSE');
        continue;
      }
      // Most write their outputs now. Under load one may not get that far in time (seen once in a
      // full-suite run; e.g. waiting behind the held job): it then stays active, is orphaned by the
      // kill like the held job, and its retry must write it exactly once (checked below).
      const deadline = Date.now() + 15000;
      let wrote: string[] = [];
      for (;;) {
        const outputs = await outputsByJob(pg!);
        wrote = running.filter((id) => outputs.has(id));
        if (wrote.length === running.length || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      if (!wrote.length) {
        await control!.call('CLIENT', 'UNPAUSE');
        continue;
      }
      unacknowledged = wrote;
      active = running;
    }
    expect(unacknowledged.length).toBeGreaterThan(0);

    const ended = await first.kill('SIGKILL');
    expect(ended.signal).toBe('SIGKILL');
    await control!.call('CLIENT', 'UNPAUSE');
    // The holder gives way without writing anything.
    await holder.query('ROLLBACK');
    await holder.end();
    // Its jobs stay active (no one else may run them) until their locks run out.
    const orphans = (await aiTasks.getActive()).map((j) => j.id as string).sort();
    expect(orphans).toEqual([held, ...active].sort());
    expect((await outputsByJob(pg!)).has(held)).toBe(false);

    const second = startWorker();
    await second.started;
    await expectExactlyOneOutputEach(pg!, qs, triggers, 90000);
    // The job killed mid-write was written by its retry; those killed after writing were not written again.
    const heldJob = await aiTasks.getJob(held);
    expect(heldJob?.returnvalue).toMatchObject({ status: 'written' });
    for (const id of unacknowledged) {
      const job = await aiTasks.getJob(id);
      // Skipped: the output's transaction also wrote the score onto the trigger (now version 2).
      expect({ id, result: job?.returnvalue }).toEqual({ id, result: { status: 'skipped', reason: expect.stringMatching(/^(already written by an earlier run of this job|superseded by version 2)$/) } });
    }
    expect(second.running).toBe(true);
  }, 180000);
});
