import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Bundle, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { Queue, type Job } from 'bullmq';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { Pool } from 'pg';
import { AI_SOURCE } from '../src/ai/ai-plugin';
import { buildTabularInput } from '../src/ai/features/tabular.features';
import { loadBuiltInModels, type BuiltInModel } from '../src/ai/model-manifest';
import { QUEUES } from '../src/queue/queues';
import { bullPrefix, createRedis } from '../src/queue/redis.provider';
import { startBenchApi, type BenchApi } from './bench-ingest';
import { CLEVELAND_COLUMNS, SENTIMENT_FILES, parseSentences, readCleveland, readWdbc, WDBC_COLUMNS, type Sentence } from './train-models/data';
import { generateVitals, type SyntheticVitals } from './train-models/news2';

/**
 * `npm run bench:ai [-- options]`: throughput and end-to-end latency of the AI plugins, against
 * raw `session.run` on the same model files with the same input rows, in one run.
 *
 * Starts a fresh database, the built API (dist/src/main.js) and `--workers` worker processes
 * (dist/workers/main.js) on a queue prefix of their own, as a deployment runs them; the workers
 * register the built-in models. Then, for each task (diagnosis CAD, diagnosis WDBC, triage,
 * sentiment): sets up patients and their input Observations through transaction Bundles (not
 * timed), waits until their events are drained and runs ANALYZE (as autovacuum would; it may be
 * off on a shared server); writes N triggering resources through the HTTP
 * API at a fixed concurrency (Conditions; a vital sign in an in-progress emergency encounter, or
 * `POST Patient/{id}/$triage` with `--tasks triage-request`; QuestionnaireResponses with comments),
 * and waits for every output. It prints:
 * - predictions/s: outputs stored / (last output's meta.lastUpdated - first trigger request sent);
 * - end-to-end latency per output: the job's last stored record's meta.lastUpdated minus the
 *   trigger's meta.lastUpdated (both set by the server from the same clock while writing, a few
 *   ms before commit), p50/p95/max; also from the trigger request being sent (client, same host);
 * - that every output and its records were written: the output (RiskAssessment / Observation),
 *   its Provenance, the trigger's update (Condition, QuestionnaireResponse, Task) and the table row
 *   (diagnoses, triage, feedback), with counts, duplicates and failed jobs;
 * - where the time goes per stage, from the BullMQ jobs' own timestamps (outbox relay, queue
 *   waits, fan-out, the AI job), and the CPU time per prediction of the API, the workers and the
 *   database's PostgreSQL backends (from /proc; the bound it puts on predictions/s);
 * - raw `session.run` (onnxruntime-node in this process, batch 1, same session options as the
 *   worker) on the same rows, sequential and at the same concurrency; and whether the stored
 *   predictions equal the raw ones.
 * Everything is dropped afterwards (database, queues). Exit code 1 when the benchmark cannot run
 * or a record is missing; the targets (500 predictions/s, p95 < 250 ms) are reported, not enforced.
 *
 * Options: --n N (triggers per task, default 500), --concurrency C (HTTP writes in flight, default
 * 16), --rate R (paces the triggers at R per second, open loop, at most C in flight; default 0:
 * as fast as C allows), --workers W (worker processes, default 1), --patients P (patients per task, default
 * min(N, 200); triggers go round-robin over them), --tasks cad,wdbc,triage,sentiment[,triage-request],
 * --datasets DIR (default ../shared/datasets), --stall S (seconds without progress before giving
 * up, default 60), --cpu-prof DIR (CPU profiles of the API and workers during each timed phase,
 * and the PostgreSQL statements each sends, summarised; through a --require preload), --pg-sample (samples pg_stat_activity during timed phases), --inference-log (runs
 * the workers at LOG_LEVEL=debug and reports the inference time they log).
 * The worker processes take AI_CONCURRENCY, WORKER_CONCURRENCY and PG_POOL_MAX from the environment.
 */

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const VITAL_SIGNS = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] };
const CAD_CODE = { system: 'http://snomed.info/sct', code: '53741008', display: 'Coronary arteriosclerosis' };
const BREAST_CODE = { system: 'http://snomed.info/sct', code: '254837009', display: 'Malignant neoplasm of breast' };
const TARGET_RATE = 500;
const TARGET_P95_MS = 250;

type TaskKey = 'cad' | 'wdbc' | 'triage' | 'triage-request' | 'sentiment';
const ALL_TASKS: TaskKey[] = ['cad', 'wdbc', 'triage', 'triage-request', 'sentiment'];

export interface Options {
  n: number;
  concurrency: number;
  workers: number;
  patients: number;
  tasks: TaskKey[];
  datasets: string;
  stallMs: number;
  /** Triggers per second (open loop, paced); 0: as fast as `concurrency` allows. */
  rate: number;
  cpuProf?: string;
  pgSample: boolean;
  inferenceLog: boolean;
}

export function parseOptions(argv: string[]): Options {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, inline] = a.slice(2).split('=', 2);
    if (['pg-sample', 'inference-log'].includes(k)) flags.set(k, 'true');
    else flags.set(k, inline ?? argv[++i] ?? '');
  }
  const known = ['n', 'rate', 'concurrency', 'workers', 'patients', 'tasks', 'datasets', 'stall', 'cpu-prof', 'pg-sample', 'inference-log'];
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k} (known: ${known.map((x) => `--${x}`).join(', ')})`);
  const int = (k: string, fallback: number, min: number, max: number) => {
    const raw = flags.get(k);
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${k} must be an integer from ${min} to ${max}, got "${raw}"`);
    return v;
  };
  const n = int('n', 500, 1, 1_000_000);
  const tasks = (flags.get('tasks') ?? 'cad,wdbc,triage,sentiment').split(',').map((t) => t.trim()) as TaskKey[];
  for (const t of tasks) if (!ALL_TASKS.includes(t)) throw new Error(`--tasks: unknown task "${t}" (known: ${ALL_TASKS.join(', ')})`);
  return {
    n,
    concurrency: int('concurrency', 16, 1, 1024),
    workers: int('workers', 1, 1, 16),
    patients: Math.min(n, int('patients', Math.min(n, 200), 1, 100_000)),
    tasks,
    datasets: resolve(flags.get('datasets') ?? join(__dirname, '..', '..', '..', 'shared', 'datasets')),
    stallMs: int('stall', 60, 1, 3600) * 1000,
    rate: int('rate', 0, 0, 100_000),
    cpuProf: flags.get('cpu-prof') ? resolve(flags.get('cpu-prof') as string) : undefined,
    pgSample: flags.has('pg-sample'),
    inferenceLog: flags.has('inference-log'),
  };
}

// ───────────── statistics ─────────────

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

interface Dist {
  n: number;
  p50: number;
  p95: number;
  max: number;
  mean: number;
}

function dist(values: number[]): Dist {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

const ms = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) : '-');

// ───────────── HTTP ─────────────

interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A keep-alive HTTP client for the API (node:http: the least overhead in this process). */
class Api {
  private agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  token = '';

  constructor(readonly base: string) {}

  /** Fresh connections: the server closes keep-alive sockets idle for 5 s, and a request sent on one as it closes is reset. */
  resetConnections(): void {
    this.agent.destroy();
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResponse> {
    try {
      return await this.send(method, path, body, headers);
    } catch (e) {
      // Node's advice for that race: retry once when a reused socket was reset before any response.
      if ((e as { reusedSocket?: boolean }).reusedSocket && (e as NodeJS.ErrnoException).code === 'ECONNRESET') return this.send(method, path, body, headers);
      throw e;
    }
  }

  private send(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<HttpResponse> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolvePromise, reject) => {
      const req = http.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}),
            ...(payload !== undefined ? { 'Content-Type': 'application/fhir+json', 'Content-Length': Buffer.byteLength(payload) } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  async login(clientId: string, secret: string): Promise<void> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }).toString();
    const res = await this.request('POST', '/auth/token', form, { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(Buffer.byteLength(form)) });
    if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${res.body.slice(0, 300)}`);
    this.token = (JSON.parse(res.body) as { access_token: string }).access_token;
  }

  close(): void {
    this.agent.destroy();
  }
}

function idFromLocation(location: string | undefined, type: string): string {
  const m = location ? new RegExp(`${type}/([A-Za-z0-9\\-.]{1,64})(/_history/\\d+)?$`).exec(location) : null;
  if (!m) throw new Error(`no ${type} id in Location "${location}"`);
  return m[1];
}

// ───────────── the data for each task ─────────────

/** A patient to set up: the Patient, the resources beside it (Observations, an Encounter), all urn:uuid-linked. */
export interface PatientSetup {
  patient: Patient;
  others: Resource[];
  /** The model input row the worker should build for this patient (computed here with the same pure builder). */
  row: Record<string, number | string>;
  /** Filled after setup: server ids. */
  patientId?: string;
  encounterId?: string;
}

interface Trigger {
  /** The HTTP request that triggers the task. */
  method: 'POST';
  path: (p: PatientSetup) => string;
  body: (p: PatientSetup, i: number) => Resource | undefined;
  /** The trigger's resource type (what the Location names). */
  type: string;
}

interface TaskDef {
  key: TaskKey;
  label: string;
  model: BuiltInModel;
  /** plugin task name (the first part of the AI job id) */
  aiTask: string;
  outputType: 'RiskAssessment' | 'Observation';
  patients: PatientSetup[];
  /** Rows for sentiment differ per trigger (the text); others use the patient's row. */
  rowOf: (i: number, p: PatientSetup) => Record<string, number | string>;
  trigger: Trigger;
  /** Whether the AI job updates the trigger (a new version), and the table row that should hold the result. */
  updatesTrigger: boolean;
  tableCheck: 'diagnoses' | 'triage' | 'feedback';
  /** The prediction in a stored output, to compare with the raw run. */
  storedPrediction: (output: Resource) => number | undefined;
  rawPrediction: (out: Record<string, number[]>) => number;
}

function isoYearsAgo(age: number): string {
  return `${new Date().getUTCFullYear() - age}-01-01`;
}

function obs(code: { system: string; code: string }, value: Partial<Observation>, extra: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [code] },
    subject: { reference: 'PATIENT' },
    effectiveDateTime: new Date(Date.now() - 3600_000).toISOString(),
    ...value,
    ...extra,
  };
}

const qty = (value: number, unit: string) => ({ valueQuantity: { value, unit, system: UCUM, code: unit } });

function rowFor(model: BuiltInModel, patient: Patient, observations: Observation[]): Record<string, number> {
  return buildTabularInput(model.manifest, { ...patient, id: 'p' }, observations.map((o, i) => ({ ...o, id: `o${i}` }))).values;
}

export function cadPatients(datasets: string, model: BuiltInModel, count: number): PatientSetup[] {
  const rows = readCleveland(datasets);
  const S = 'urn:fhir-ai-server:cleveland';
  return Array.from({ length: count }, (_, i) => {
    const r = rows[i % rows.length].features;
    const f = Object.fromEntries(CLEVELAND_COLUMNS.map((c, j) => [c, r[j]])) as Record<(typeof CLEVELAND_COLUMNS)[number], number | null>;
    const patient: Patient = { resourceType: 'Patient', name: [{ family: `Cad${i}`, given: ['Bench'] }], gender: f.sex === 1 ? 'male' : 'female', birthDate: isoYearsAgo(f.age as number) };
    const o: Observation[] = [];
    const int = (code: string, v: number | null) => v !== null && o.push(obs({ system: S, code }, { valueInteger: v }));
    int('chest-pain-type', f.cp);
    if (f.trestbps !== null) o.push(obs({ system: LOINC, code: '8480-6' }, qty(f.trestbps, 'mm[Hg]')));
    if (f.chol !== null) o.push(obs({ system: LOINC, code: '2093-3' }, qty(f.chol, 'mg/dL')));
    if (f.fbs !== null) o.push(obs({ system: LOINC, code: '1558-6' }, qty(f.fbs ? 130 : 95, 'mg/dL')));
    int('resting-ecg', f.restecg);
    if (f.thalach !== null) o.push(obs({ system: S, code: 'max-heart-rate-exercise' }, qty(f.thalach, '/min')));
    if (f.exang !== null) o.push(obs({ system: S, code: 'exercise-induced-angina' }, { valueBoolean: f.exang === 1 }));
    if (f.oldpeak !== null) o.push(obs({ system: S, code: 'st-depression-exercise' }, qty(f.oldpeak, 'mm')));
    int('st-slope-peak-exercise', f.slope);
    int('fluoroscopy-major-vessels', f.ca);
    int('thallium-scan', f.thal);
    return { patient, others: o, row: rowFor(model, patient, o) };
  });
}

export function wdbcPatients(datasets: string, model: BuiltInModel, count: number): PatientSetup[] {
  const rows = readWdbc(datasets);
  return Array.from({ length: count }, (_, i) => {
    const r = rows[i % rows.length];
    const patient: Patient = { resourceType: 'Patient', name: [{ family: `Wdbc${i}`, given: ['Bench'] }], gender: 'female', birthDate: '1965-01-01' };
    const o = WDBC_COLUMNS.map((c, j) => obs({ system: 'urn:fhir-ai-server:wdbc', code: c }, qty(r.features[j], '1')));
    return { patient, others: o, row: rowFor(model, patient, o) };
  });
}

function vitalObservations(v: SyntheticVitals): Observation[] {
  const vital = (code: string, value: Partial<Observation>) => obs({ system: LOINC, code }, value, { category: [VITAL_SIGNS] });
  return [
    vital('9279-1', qty(v.respiratoryRate, '/min')),
    vital('59408-5', qty(v.spo2, '%')),
    vital('3151-8', qty(v.onOxygen ? 2 : 0, 'L/min')),
    vital('8480-6', qty(v.systolicBp, 'mm[Hg]')),
    vital('8867-4', qty(v.pulse, '/min')),
    vital('80288-4', { valueCodeableConcept: { coding: [v.consciousness ? { system: LOINC, code: 'LA6560-2', display: 'Confused' } : { system: LOINC, code: 'LA9340-6', display: 'Alert' }] } }),
    vital('8310-5', qty(v.temperature, 'Cel')),
  ];
}

export function triagePatients(model: BuiltInModel, count: number, withEncounter: boolean): PatientSetup[] {
  const vitals = generateVitals(count, 4242);
  return vitals.map((v, i) => {
    const patient: Patient = { resourceType: 'Patient', name: [{ family: `Triage${i}`, given: ['Bench'] }], gender: i % 2 ? 'male' : 'female', birthDate: '1980-01-01' };
    // Set-up vitals carry no encounter, so they trigger nothing; the timed trigger is a vital sign
    // recorded in the emergency encounter (or a $triage request).
    const o = vitalObservations(v);
    const others: Resource[] = [...o];
    if (withEncounter) {
      others.push({
        resourceType: 'Encounter',
        status: 'in-progress',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
        subject: { reference: 'PATIENT' },
      });
    }
    return { patient, others, row: rowFor(model, patient, o) };
  });
}

function sentimentSentences(datasets: string, session: InferenceSession, ort: Ort, need: number): Promise<Sentence[]> {
  // Only sentences with a word the model knows: text it cannot score fails its job by design
  // (visibly), which is not what this benchmark measures.
  const all = SENTIMENT_FILES.flatMap((f) => parseSentences(readFileSync(join(datasets, f), 'utf8'), f)).filter((s) => s.text.trim());
  return (async () => {
    const out: Sentence[] = [];
    for (const s of all) {
      if (out.length >= need) break;
      const r = await session.run({ text: new ort.Tensor('string', [s.text.trim()], [1]) });
      if (Number((r.matched_ngrams?.data as ArrayLike<number | bigint>)?.[0] ?? 0) > 0) out.push(s);
    }
    if (!out.length) throw new Error('no sentence the sentiment model knows');
    return out;
  })();
}

// ───────────── the processes ─────────────

interface Stack {
  api: BenchApi;
  workers: ChildProcess[];
  queuePrefix: string;
  workerLogs: string[];
  stop(): Promise<void>;
}

/**
 * A preload for the API and workers (--cpu-prof): SIGWINCH starts a CPU profile and a count of the
 * PostgreSQL statements the process sends (node-postgres' Client.query, which MikroORM/knex and
 * the raw queries all go through); the next SIGWINCH writes both. (SIGWINCH because Nest's
 * shutdown hooks take SIGUSR2, and the inspector SIGUSR1.) The application's code is unchanged.
 */
function writeProfilerPreload(dir: string): string {
  const file = join(tmpdir(), `bench-ai-profiler-${process.pid}.js`);
  writeFileSync(
    file,
    `const inspector = require('node:inspector');
const fs = require('node:fs');
const out = ${JSON.stringify(dir)} + '/' + (process.env.BENCH_ROLE || 'node') + '-' + process.pid;
let counting = false;
let statements = new Map();
try {
  const pg = require(require.resolve('pg', { paths: [process.cwd()] }));
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (config, values) {
    if (counting) {
      const text = typeof config === 'string' ? config : (config && config.text) || '';
      const params = Array.isArray(values) ? values : (config && config.values) || [];
      let bytes = text.length;
      for (const v of params) bytes += v == null ? 0 : Buffer.isBuffer(v) ? v.length : typeof v === 'object' ? JSON.stringify(v).length : String(v).length;
      const key = text.replace(/\\s+/g, ' ').trim().slice(0, 90);
      const e = statements.get(key) || { n: 0, bytes: 0 };
      e.n++;
      e.bytes += bytes;
      statements.set(key, e);
    }
    return query.apply(this, arguments);
  };
} catch (e) {
  // no pg here: profile only
}
let session;
process.on('SIGWINCH', () => {
  if (!session) {
    statements = new Map();
    counting = true;
    session = new inspector.Session();
    session.connect();
    session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 500 }, () => session.post('Profiler.start')));
    return;
  }
  counting = false;
  fs.writeFileSync(out + '.pgstats.json', JSON.stringify([...statements.entries()]));
  const s = session;
  session = undefined;
  s.post('Profiler.stop', (err, res) => {
    if (!err) fs.writeFileSync(out + '.cpuprofile', JSON.stringify(res.profile));
    s.disconnect();
  });
});
`,
  );
  return file;
}

/** The statement counts a process wrote (see writeProfilerPreload), summarised per trigger. */
function summarisePgStats(file: string, triggers: number): string[] {
  const entries = JSON.parse(readFileSync(file, 'utf8')) as Array<[string, { n: number; bytes: number }]>;
  const n = entries.reduce((a, [, e]) => a + e.n, 0);
  const bytes = entries.reduce((a, [, e]) => a + e.bytes, 0);
  return [
    `    ${n} statements (${(n / triggers).toFixed(1)} per trigger), ${(bytes / 1024 / 1024).toFixed(1)} MiB of SQL text and parameters (${(bytes / triggers / 1024).toFixed(1)} KiB per trigger); most frequent:`,
    ...entries
      .sort((a, b) => b[1].n - a[1].n)
      .slice(0, 12)
      .map(([k, e]) => `      ${(e.n / triggers).toFixed(2).padStart(6)}/trigger ${String(Math.round(e.bytes / e.n)).padStart(7)} B  ${k}`),
  ];
}

async function startStack(o: Options): Promise<Stack> {
  const queuePrefix = `benchai${randomBytes(3).toString('hex')}`;
  let preload: string | undefined;
  if (o.cpuProf) {
    mkdirSync(o.cpuProf, { recursive: true });
    preload = writeProfilerPreload(o.cpuProf);
  }
  const nodeOptions = (role: string) => (preload ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${preload}`.trim(), BENCH_ROLE: role } : {});
  const api = await startBenchApi({
    QUEUE_PREFIX: queuePrefix,
    // The benchmark is one client at high rate: the limits (per minute, per process) must not be what is measured.
    RATE_LIMIT_PER_MINUTE: '10000000',
    CLIENT_RATE_LIMIT_PER_MINUTE: '10000000',
    ...nodeOptions('api'),
  });
  const workers: ChildProcess[] = [];
  const workerLogs: string[] = [];
  const stop = async () => {
    await Promise.all(
      workers.map(async (w) => {
        if (w.exitCode === null && w.signalCode === null) {
          const exited = new Promise((r) => w.once('exit', r));
          w.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 15000))]);
          if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
        }
      }),
    );
    await api.stop();
    if (preload) rmSync(preload, { force: true });
  };
  try {
    for (let i = 0; i < o.workers; i++) {
      const w = spawn(process.execPath, [join(__dirname, '..', 'workers', 'main.js')], {
        env: {
          ...process.env,
          NODE_ENV: 'development',
          DATABASE_URL: api.databaseUrl,
          QUEUE_PREFIX: queuePrefix,
          LOG_LEVEL: o.inferenceLog ? 'debug' : 'error',
          ...nodeOptions(`worker${i + 1}`),
        },
        stdio: ['ignore', o.inferenceLog ? 'pipe' : 'ignore', 'inherit'],
      });
      if (o.inferenceLog && w.stdout) {
        let partial = '';
        w.stdout.setEncoding('utf8');
        w.stdout.on('data', (chunk: string) => {
          const lines = (partial + chunk).split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) if (l.includes('"ai job"')) workerLogs.push(l);
        });
      }
      workers.push(w);
    }
    return { api, workers, queuePrefix, workerLogs, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

// ───────────── waiting and checking ─────────────

interface Probe {
  pg: Pool;
  events: Queue;
  ai: Queue;
}

async function busy(p: Probe): Promise<number> {
  const { rows } = await p.pg.query<{ n: string }>('SELECT count(*) AS n FROM outbox_events WHERE dispatched_at IS NULL');
  const counts = await Promise.all([p.events, p.ai].map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused')));
  return Number(rows[0].n) + counts.reduce((a, c) => a + Object.values(c).reduce((x, y) => x + y, 0), 0);
}

async function waitIdle(p: Probe, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (Date.now() < deadline) {
    if ((await busy(p)) === 0) {
      if (++quiet >= 3) return;
    } else quiet = 0;
    await sleep(200);
  }
  throw new Error(`the workers did not drain the outbox and queues within ${timeoutMs / 1000} s`);
}

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** Resources of a type written since `since`, from both resource tables. */
async function resourcesSince(pg: Pool, type: string, since: Date): Promise<Array<{ id: string; version_id: number; last_updated: Date; content: Resource }>> {
  const { rows } = await pg.query(
    `SELECT id, version_id, last_updated, content FROM fhir_patient_resource WHERE resource_type = $1 AND last_updated >= $2
     UNION ALL SELECT id, version_id, last_updated, content FROM fhir_resource WHERE resource_type = $1 AND last_updated >= $2`,
    [type, since],
  );
  return rows;
}

/**
 * Refused inputs (InputRefusedError): failed at once, unrecoverable, before their attempts ran
 * out, with their reason: the record a refusal leaves by design (a sentence of which the model
 * knows too few words), not a loss.
 */
async function countRefused(ai: Queue): Promise<number> {
  return (await ai.getFailed(0, -1)).filter((j) => j.attemptsMade < (j.opts.attempts ?? 1)).length;
}

/**
 * Triggers answered with an earlier result: a per-patient task (triage) writes one result per
 * model version and input versions, so a job that finds the patient's latest result built from
 * exactly its inputs (a second reading's job already ran on them) points at it (outcome `reused`).
 */
async function countReused(pg: Pool, aiTask: string, since: Date): Promise<number> {
  const { rows } = await pg.query<{ n: string }>(
    `SELECT count(*) - count(DISTINCT output_ref) AS n FROM ai_predictions WHERE task = $1 AND NOT shadow AND output_ref IS NOT NULL AND created_at >= $2`,
    [aiTask, since],
  );
  return Number(rows[0].n);
}

async function countOutputs(pg: Pool, type: string, since: Date): Promise<number> {
  const { rows } = await pg.query<{ n: string }>(
    `SELECT count(*) AS n FROM fhir_patient_resource WHERE resource_type = $1 AND last_updated >= $2 AND content->'meta'->>'source' = $3`,
    [type, since, AI_SOURCE],
  );
  return Number(rows[0].n);
}

/** Samples what the bench database's sessions are doing (state, wait event, statement) while load runs. */
function startPgSampler(url: string, dbName: string): { stop(): Promise<Map<string, number>> } {
  const pg = quietPool(url, 1);
  const counts = new Map<string, number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const { rows } = await pg.query<{ state: string; wait: string | null; q: string }>(
          `SELECT state, coalesce(wait_event_type || ':' || wait_event, 'CPU') AS wait, regexp_replace(left(query, 70), '\\s+', ' ', 'g') AS q
           FROM pg_stat_activity WHERE datname = $1 AND application_name <> 'bench-ai' AND state <> 'idle'`,
          [dbName],
        );
        counts.set('(samples)', (counts.get('(samples)') ?? 0) + 1);
        for (const r of rows) {
          const k = `${r.state === 'active' ? r.wait : r.state} | ${r.q}`;
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
      } catch {
        // a dropped connection: the pool makes a new one
      }
      await sleep(25);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await pg.end().catch(() => undefined);
      return counts;
    },
  };
}

/** A small pool whose broken connections (the machine is shared; others restart things) are replaced, not fatal. */
function quietPool(url: string, max: number): Pool {
  const pool = new Pool({ connectionString: url, max, application_name: 'bench-ai' });
  pool.on('error', () => undefined);
  return pool;
}

// ───────────── raw session.run ─────────────

type Ort = typeof import('onnxruntime-node');

function feedsOf(ort: Ort, model: BuiltInModel, row: Record<string, number | string>): Record<string, Tensor> {
  // As InferenceService.run builds them: one row, float32 [1,1] or string [1].
  const feeds: Record<string, Tensor> = {};
  for (const input of model.manifest.inputs) {
    const v = row[input.name];
    const dims = input.tensor.shape.map((d) => (typeof d === 'number' ? d : 1));
    feeds[input.name] = input.tensor.elementType === 'string' ? new ort.Tensor('string', [String(v ?? '')], dims) : new ort.Tensor('float32', Float32Array.from([Number(v)]), dims);
  }
  return feeds;
}

function toNumbers(result: InferenceSession.OnnxValueMapType): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, t] of Object.entries(result)) out[name] = Array.from((t as Tensor).data as ArrayLike<number | bigint>, (x) => Number(x));
  return out;
}

interface RawResult {
  rate: number;
  latency: Dist;
}

async function rawRuns(session: InferenceSession, feeds: Array<Record<string, Tensor>>, concurrency: number): Promise<RawResult> {
  const lat: number[] = new Array(feeds.length);
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < feeds.length) {
        const i = next++;
        const s = process.hrtime.bigint();
        await session.run(feeds[i]);
        lat[i] = Number(process.hrtime.bigint() - s) / 1e6;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rate: feeds.length / seconds, latency: dist(lat) };
}

// ───────────── CPU profiles ─────────────

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: a package, a project folder, a node: module, or a special frame. */
function areaOf(n: ProfileNode): string | undefined {
  const { url, functionName } = n.callFrame;
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(garbage collector)') return '(gc)';
  if (functionName === '(program)') return '(program: native, not JS)';
  if (!url) return undefined;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  return m ? m[1] : (/\/dist\/(src|workers|scripts)\/([^/]+)/.exec(url)?.slice(1, 3).join('/') ?? url);
}

/**
 * Self time of a profile grouped by where the code lives (package or project folder; native and
 * builtin frames are charged to the nearest caller that has a place, e.g. a socket write to pg),
 * and the top functions.
 */
function summariseProfile(file: string): string[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0) || 1;
  const area = new Map<string, number>();
  const fn = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id) as ProfileNode;
    let where = areaOf(n);
    if (where === undefined || where.startsWith('node:')) {
      // Charge native code and Node's own modules to the first caller outside Node (pg, ioredis, pino...).
      let up = parent.get(id);
      let caller: string | undefined;
      while (up !== undefined && (caller === undefined || caller.startsWith('node:'))) {
        caller = areaOf(byId.get(up) as ProfileNode);
        up = parent.get(up);
      }
      where = `${caller ?? where ?? '?'} (${where ?? 'native'})`;
    }
    area.set(where, (area.get(where) ?? 0) + t);
    const name = n.callFrame.functionName || '(anonymous)';
    const fk = `${name} ${n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '')}:${n.callFrame.lineNumber + 1}`;
    fn.set(fk, (fn.get(fk) ?? 0) + t);
  }
  const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)} %`;
  const top = (m: Map<string, number>, k: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, k);
  return [
    `    ${(total / 1e6).toFixed(1)} s sampled; by area (self time):`,
    ...top(area, 16).map(([k, t]) => `      ${pct(t)}  ${k}`),
    '    top functions (self time):',
    ...top(fn, 10).map(([k, t]) => `      ${pct(t)}  ${k}`),
  ];
}

/** CPU time (user + system, ms) a process has used so far, from /proc; 0 when it is gone. */
function cpuMs(pid: number): number {
  try {
    // Fields after the command (which may hold spaces) start after the last ')'; utime and stime are the 12th and 13th there.
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS = 100; // USER_HZ on Linux

interface CpuSnapshot {
  api: number;
  workers: number;
  /** PostgreSQL backends connected to the bench database, by pid. */
  pg: Map<number, number>;
}

async function cpuSnapshot(stack: Stack, pg: Pool, dbName: string): Promise<CpuSnapshot> {
  const { rows } = await pg.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name <> 'bench-ai'`, [dbName]);
  return {
    api: cpuMs(stack.api.pid),
    workers: stack.workers.reduce((a, w) => a + cpuMs(w.pid as number), 0),
    pg: new Map(rows.map((r) => [r.pid, cpuMs(r.pid)])),
  };
}

/** CPU ms used between two snapshots: API, workers, and the bench database's PostgreSQL backends (those that lived through it, and new ones). */
function cpuUsed(a: CpuSnapshot, b: CpuSnapshot): { api: number; workers: number; pg: number } {
  let pgMs = 0;
  for (const [pid, t] of b.pg) pgMs += t - (a.pg.get(pid) ?? 0);
  return { api: b.api - a.api, workers: b.workers - a.workers, pg: pgMs };
}

// ───────────── one task ─────────────

interface TaskResult {
  label: string;
  n: number;
  written: number;
  rate: number;
  e2e: Dist;
  fromRequest: Dist;
  http: Dist;
  seconds: number;
  rawSeq: RawResult;
  rawConc: RawResult;
  problems: string[];
  /** 1-minute load average when the timed phase started. */
  load1: number;
  /** CPU ms per prediction: API + workers + PostgreSQL. */
  cpuPerPrediction: number;
}

async function runTask(o: Options, stack: Stack, api: Api, probe: Probe, task: TaskDef, ort: Ort, session: InferenceSession): Promise<TaskResult> {
  const log = (s: string) => process.stdout.write(`[${task.label}] ${s}\n`);
  const problems: string[] = [];

  // 1. Set-up (not timed): each patient and its resources in one transaction Bundle.
  const setupStarted = Date.now();
  let nextPatient = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (nextPatient < task.patients.length) {
        const p = task.patients[nextPatient++];
        const pUrl = `urn:uuid:${randomUUID()}`;
        const relink = (r: Resource) => JSON.parse(JSON.stringify(r).replaceAll('"PATIENT"', JSON.stringify(pUrl))) as Resource;
        const bundle: Bundle = {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [p.patient, ...p.others].map((r, i) => ({ fullUrl: i === 0 ? pUrl : `urn:uuid:${randomUUID()}`, resource: relink(r), request: { method: 'POST', url: r.resourceType } })),
        };
        const res = await api.request('POST', '/fhir', bundle, { Prefer: 'return=minimal' });
        if (res.status !== 200) throw new Error(`set-up transaction failed: ${res.status} ${res.body.slice(0, 500)}`);
        const entries = (JSON.parse(res.body) as Bundle).entry ?? [];
        p.patientId = idFromLocation(entries[0]?.response?.location, 'Patient');
        const enc = entries.find((e) => e.response?.location?.startsWith('Encounter/'));
        if (enc) p.encounterId = idFromLocation(enc.response?.location, 'Encounter');
      }
    }),
  );
  const resources = task.patients.reduce((a, p) => a + 1 + p.others.length, 0);
  await waitIdle(probe, 300_000);
  // Planner statistics for the set-up data, as autovacuum gathers them in a deployment: with
  // autovacuum off (as on the shared server here) a fresh database has none, and the job's read of
  // the patient's Observations by code scans every patient's index rows (~100 ms per WDBC job).
  const { rows: av } = await probe.pg.query<{ autovacuum: string }>('SHOW autovacuum');
  await probe.pg.query('ANALYZE');
  log(`set-up: ${task.patients.length} patients, ${resources} resources in ${((Date.now() - setupStarted) / 1000).toFixed(1)} s (events drained; ANALYZE run, autovacuum ${av[0]?.autovacuum})`);

  // 2. The timed phase: N triggers at a fixed concurrency.
  api.resetConnections();
  const signalProfilers = () => {
    if (!o.cpuProf) return;
    for (const pid of [stack.api.pid, ...stack.workers.map((w) => w.pid as number)]) process.kill(pid, 'SIGWINCH');
  };
  signalProfilers();
  const dbName = new URL(stack.api.databaseUrl).pathname.slice(1);
  const cpuBefore = await cpuSnapshot(stack, probe.pg, dbName);
  const sampler = o.pgSample ? startPgSampler(stack.api.databaseUrl, new URL(stack.api.databaseUrl).pathname.slice(1)) : undefined;
  const sentAt: number[] = new Array(o.n);
  const httpMs: number[] = new Array(o.n);
  const triggerIds: string[] = new Array(o.n);
  const load1 = loadavg()[0];
  const since = new Date(Date.now() - 5);
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (next < o.n) {
        const i = next++;
        if (o.rate) {
          const wait = t0 + (i * 1000) / o.rate - Date.now();
          if (wait > 0) await sleep(wait);
        }
        const p = task.patients[i % task.patients.length];
        const body = task.trigger.body(p, i);
        sentAt[i] = Date.now();
        const s = process.hrtime.bigint();
        const res = await api.request(task.trigger.method, task.trigger.path(p), body, { Prefer: 'return=minimal' });
        httpMs[i] = Number(process.hrtime.bigint() - s) / 1e6;
        if (res.status !== 201 && res.status !== 202) throw new Error(`trigger ${i} answered ${res.status}: ${res.body.slice(0, 500)}`);
        triggerIds[i] = idFromLocation(res.headers.location as string | undefined, task.trigger.type);
      }
    }),
  );
  const writesDone = Date.now();
  log(`${o.n} triggers written in ${((writesDone - t0) / 1000).toFixed(2)} s (${(o.n / ((writesDone - t0) / 1000)).toFixed(0)} writes/s; load average ${load1.toFixed(1)} when they started); waiting for the outputs`);

  // 3. Wait until every output is stored (or progress stalls).
  let lastCount = -1;
  let lastProgress = Date.now();
  for (;;) {
    const c = await countOutputs(probe.pg, task.outputType, since);
    if (c >= o.n) break;
    if (c !== lastCount) {
      lastCount = c;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > 1000) {
      // Outputs stopped coming: refused inputs and triggers answered with an earlier result never
      // have one of their own, so done when they make up the rest (asked only then: the probe's own
      // queries count in the measured database's CPU).
      const refusedSoFar = await countRefused(probe.ai);
      const reusedSoFar = await countReused(probe.pg, task.aiTask, since);
      if (c + refusedSoFar + reusedSoFar >= o.n) break;
      if (Date.now() - lastProgress > o.stallMs) {
        problems.push(`only ${c} of ${o.n} outputs (${refusedSoFar} inputs refused, ${reusedSoFar} answered with an earlier result) after ${o.stallMs / 1000} s without progress`);
        break;
      }
    }
    await sleep(100);
  }
  signalProfilers();
  const samples = await sampler?.stop();
  await waitIdle(probe, 120_000).catch((e: Error) => problems.push(e.message));
  // After the queues drained, so the fan-out of the outputs' own events is counted too.
  const cpu = cpuUsed(cpuBefore, await cpuSnapshot(stack, probe.pg, dbName));

  // 4. Check every record and measure.
  const triggerType = task.trigger.type;
  const jobOf = (id: string) => `${task.aiTask}/${triggerType}/${id}/_history/1`;
  const outputs = (await resourcesSince(probe.pg, task.outputType, since)).filter((r) => r.content.meta?.source === AI_SOURCE);
  const outputByJob = new Map<string, typeof outputs>();
  for (const r of outputs) {
    const job = r.content && 'identifier' in r.content ? (r.content.identifier as Array<{ value?: string }> | undefined)?.[0]?.value : undefined;
    if (job) outputByJob.set(job, [...(outputByJob.get(job) ?? []), r]);
  }
  const provenance = await resourcesSince(probe.pg, 'Provenance', since);
  const provByTarget = new Map<string, (typeof provenance)[number][]>();
  for (const r of provenance) {
    const t = (r.content as { target?: Array<{ reference?: string }> }).target?.[0]?.reference;
    if (t) provByTarget.set(t, [...(provByTarget.get(t) ?? []), r]);
  }
  const { rows: triggerRows } = await probe.pg.query<{ id: string; version_id: number; last_updated: Date }>(
    `SELECT id, version_id, last_updated FROM fhir_patient_resource_history WHERE resource_type = $1 AND id = ANY($2)
     UNION ALL SELECT id, version_id, last_updated FROM fhir_resource_history WHERE resource_type = $1 AND id = ANY($2)`,
    [triggerType, triggerIds],
  );
  const versions = new Map<string, Map<number, Date>>();
  for (const r of triggerRows) versions.set(r.id, (versions.get(r.id) ?? new Map()).set(r.version_id, r.last_updated));

  let written = 0;
  let missingOutput = 0;
  let duplicates = 0;
  let missingProv = 0;
  let missingUpdate = 0;
  let predictionsEqual = 0;
  let predictionsCompared = 0;
  const e2e: number[] = [];
  const fromRequest: number[] = [];
  let lastStored = 0;
  const outputIds: string[] = [];
  for (let i = 0; i < o.n; i++) {
    const id = triggerIds[i];
    const outs = outputByJob.get(jobOf(id)) ?? [];
    if (!outs.length) {
      missingOutput++;
      continue;
    }
    if (outs.length > 1) duplicates += outs.length - 1;
    const out = outs[0];
    outputIds.push(out.id);
    const provs = provByTarget.get(`${task.outputType}/${out.id}`) ?? [];
    if (provs.length !== 1) missingProv++;
    const v = versions.get(id);
    const v1 = v?.get(1);
    const v2 = v?.get(2);
    if (task.updatesTrigger && !v2) missingUpdate++;
    if (provs.length === 1 && (!task.updatesTrigger || v2)) written++;
    // The job's records are written in one transaction: its result is stored when the last of them is.
    const stored = Math.max(out.last_updated.getTime(), ...provs.map((p) => p.last_updated.getTime()), task.updatesTrigger && v2 ? v2.getTime() : 0);
    lastStored = Math.max(lastStored, stored);
    if (v1) e2e.push(stored - v1.getTime());
    fromRequest.push(stored - sentAt[i]);
    const stored1 = task.storedPrediction(out.content);
    if (stored1 !== undefined) {
      predictionsCompared++;
      const raw = task.rawPrediction(toNumbers(await session.run(feedsOf(ort, task.model, task.rowOf(i, task.patients[i % task.patients.length])))));
      if (Math.abs(raw - stored1) < 1e-3) predictionsEqual++;
    }
  }
  // The table rows.
  let tableRows = 0;
  if (task.tableCheck === 'diagnoses') {
    const { rows } = await probe.pg.query<{ n: string }>('SELECT count(*) AS n FROM diagnoses WHERE id = ANY($1) AND confidence_score IS NOT NULL AND ai_model_id = $2', [triggerIds, task.model.manifest.name + '-' + task.model.manifest.version]);
    tableRows = Number(rows[0].n);
  } else if (task.tableCheck === 'triage') {
    const { rows } = await probe.pg.query<{ n: string }>('SELECT count(*) AS n FROM triage WHERE id = ANY($1) AND priority_score BETWEEN 1 AND 5', [outputIds]);
    tableRows = Number(rows[0].n);
  } else {
    const { rows } = await probe.pg.query<{ n: string }>('SELECT count(*) AS n FROM feedback WHERE id = ANY($1) AND sentiment_score IS NOT NULL', [triggerIds]);
    tableRows = Number(rows[0].n);
  }
  const { rows: outboxRows } = await probe.pg.query<{ resource_type: string; n: string }>(
    'SELECT resource_type, count(*) AS n FROM outbox_events WHERE created_at >= $1 GROUP BY 1 ORDER BY 2 DESC',
    [since],
  );
  const failedCount = await probe.ai.getFailedCount();
  const failed = await probe.ai.getFailed(0, 4);
  const refused = await countRefused(probe.ai);
  const reused = await countReused(probe.pg, task.aiTask, since);
  const extras = await Promise.all(
    ['Task', 'Flag'].map(async (t) => (await resourcesSince(probe.pg, t, since)).filter((r) => r.content.meta?.source === AI_SOURCE && r.version_id === 1).length),
  );

  const seconds = (lastStored - t0) / 1000;
  const rate = (o.n - missingOutput) / seconds;
  log(
    `records: outputs ${o.n - missingOutput}/${o.n} (duplicates ${duplicates}), Provenance ${o.n - missingOutput - missingProv}/${o.n - missingOutput}` +
      (task.updatesTrigger ? `, trigger updated ${o.n - missingOutput - missingUpdate}/${o.n - missingOutput}` : '') +
      `, ${task.tableCheck} rows ${tableRows}/${o.n}; recommendations (Task) ${extras[0]}, alerts (Flag) ${extras[1]}; failed ai-tasks jobs ${failedCount} (of which input refused as the model card says: ${refused}); answered with an earlier result on the same inputs: ${reused}`,
  );
  for (const f of failed) log(`  failed job ${f.id}: ${f.failedReason}`);
  const outboxTotal = outboxRows.reduce((a, r) => a + Number(r.n), 0);
  log(`outbox events in the timed phase: ${outboxTotal} (${(outboxTotal / o.n).toFixed(1)} per trigger: ${outboxRows.map((r) => `${r.resource_type} ${r.n}`).join(', ')})`);
  log(`stored predictions equal to raw session.run on the same row: ${predictionsEqual}/${predictionsCompared}`);
  const cpuPer = (v: number) => (v / (o.n - missingOutput || 1)).toFixed(1);
  const cpuTotal = cpu.api + cpu.workers + cpu.pg;
  log(
    `CPU per prediction (ms, /proc): API ${cpuPer(cpu.api)}, worker(s) ${cpuPer(cpu.workers)}, PostgreSQL ${cpuPer(cpu.pg)}; total ${cpuPer(cpuTotal)}` +
      ` → at most ${((cpus().length * 1000) / (cpuTotal / (o.n - missingOutput || 1))).toFixed(0)} predictions/s on ${cpus().length} idle cores (Redis and the client not counted)`,
  );
  if (missingOutput > refused + reused) problems.push(`${missingOutput - refused - reused} outputs missing`);
  if (duplicates) problems.push(`${duplicates} duplicate outputs`);
  if (missingProv) problems.push(`${missingProv} outputs without exactly one Provenance`);
  if (missingUpdate) problems.push(`${missingUpdate} triggers not updated`);
  if (tableRows !== o.n - missingOutput) problems.push(`${tableRows} ${task.tableCheck} rows for ${o.n - missingOutput} outputs`);
  if (failedCount > refused) problems.push(`${failedCount - refused} failed ai-tasks jobs`);
  if (predictionsEqual !== predictionsCompared) problems.push(`${predictionsCompared - predictionsEqual} stored predictions differ from raw session.run`);

  // Where the time goes, from BullMQ's own timestamps (ms, same host clock).
  const stages: Record<string, number[]> = {
    'trigger written → relay enqueued event': [],
    'resource-events queue wait': [],
    'fan-out job (re-read, triggers, add)': [],
    'ai-tasks queue wait': [],
    'ai job start → output lastUpdated': [],
    'output lastUpdated → ai job finished': [],
  };
  // The resource-events job that carried each trigger's event (a transaction's events travel together).
  const eventJob = new Map<string, Job>();
  const finishedEventJobs = await probe.events.getJobs(['completed', 'failed']);
  for (const j of finishedEventJobs) {
    const data = j.data as { events?: Array<{ resourceType: string; resourceId: string; action: string }> } & { resourceType?: string; resourceId?: string; action?: string };
    for (const e of data.events ?? [data]) if (e.action === 'create' && e.resourceType === triggerType && e.resourceId) eventJob.set(e.resourceId, j);
  }
  const eventJobs = finishedEventJobs.filter((j) => j.timestamp >= t0).length;
  log(`resource-events jobs in the timed phase: ${eventJobs} (${(eventJobs / o.n).toFixed(2)} per trigger; a transaction's events travel in one)`);
  for (let i = 0; i < o.n; i += 50) {
    const ids = triggerIds.slice(i, i + 50);
    const pairs = await Promise.all(ids.map(async (id) => [id, eventJob.get(id), await probe.ai.getJob(jobOf(id))] as const));
    for (const [id, ev, job] of pairs) {
      const v1 = versions.get(id)?.get(1)?.getTime();
      const out = outputByJob.get(jobOf(id))?.[0]?.last_updated.getTime();
      if (ev && v1) stages['trigger written → relay enqueued event'].push(ev.timestamp - v1);
      if (ev?.processedOn) stages['resource-events queue wait'].push(ev.processedOn - ev.timestamp);
      if (ev?.processedOn && ev.finishedOn) stages['fan-out job (re-read, triggers, add)'].push(ev.finishedOn - ev.processedOn);
      if (job?.processedOn) stages['ai-tasks queue wait'].push(job.processedOn - job.timestamp);
      // lastUpdated is set as the output is written, before its transaction commits and the job completes.
      if (job?.processedOn && out) stages['ai job start → output lastUpdated'].push(out - job.processedOn);
      if (job?.finishedOn && out) stages['output lastUpdated → ai job finished'].push(job.finishedOn - out);
    }
  }
  log('stages (BullMQ timestamps, ms):              p50      p95      max');
  for (const [k, v] of Object.entries(stages)) {
    const d = dist(v);
    log(`  ${k.padEnd(40)} ${ms(d.p50).padStart(7)}  ${ms(d.p95).padStart(7)}  ${ms(d.max).padStart(7)}`);
  }
  if (o.inferenceLog) {
    const inf: number[] = [];
    for (const l of stack.workerLogs.splice(0)) {
      try {
        const e = JSON.parse(l) as { jobId?: string; inferenceMs?: number };
        if (e.jobId?.startsWith(`${task.aiTask}/${triggerType}/`) && typeof e.inferenceMs === 'number') inf.push(e.inferenceMs);
      } catch {
        // not a JSON line
      }
    }
    const d = dist(inf);
    log(`  inference inside the worker (logged)       ${ms(d.p50).padStart(7)}  ${ms(d.p95).padStart(7)}  ${ms(d.max).padStart(7)}  (${d.n} jobs)`);
  }
  if (samples) {
    const total = samples.get('(samples)') ?? 1;
    samples.delete('(samples)');
    log(`pg_stat_activity (${total} samples; average sessions per state: wait event | statement):`);
    for (const [k, c] of [...samples.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12)) log(`  ${(c / total).toFixed(2).padStart(5)}  ${k}`);
  }
  if (o.cpuProf) {
    await sleep(1500); // the profiles are written asynchronously
    for (const f of readdirSync(o.cpuProf).filter((x) => /-\d+\.(cpuprofile|pgstats\.json)$/.test(x)).sort()) {
      const path = join(o.cpuProf, f);
      if (f.endsWith('.cpuprofile')) {
        log(`CPU profile ${f}:`);
        for (const line of summariseProfile(path)) process.stdout.write(`${line}\n`);
      } else {
        log(`PostgreSQL statements sent by ${f.replace('.pgstats.json', '')} during the timed phase:`);
        for (const line of summarisePgStats(path, o.n)) process.stdout.write(`${line}\n`);
      }
      renameSync(path, path.replace(/\.(cpuprofile|pgstats\.json)$/, `.${task.key}.$1`));
    }
  }

  // 5. Raw session.run on the same model file, same rows, batch 1, while API and workers are idle.
  const feeds = Array.from({ length: o.n }, (_, i) => feedsOf(ort, task.model, task.rowOf(i, task.patients[i % task.patients.length])));
  for (let i = 0; i < Math.min(50, feeds.length); i++) await session.run(feeds[i]); // warm-up
  const rawSeq = await rawRuns(session, feeds, 1);
  const rawConc = await rawRuns(session, feeds, o.concurrency);

  return {
    label: task.label,
    n: o.n,
    written,
    rate,
    e2e: dist(e2e),
    fromRequest: dist(fromRequest),
    http: dist(httpMs),
    seconds,
    rawSeq,
    rawConc,
    problems,
    load1,
    cpuPerPrediction: cpuTotal / (o.n - missingOutput || 1),
  };
}

// ───────────── main ─────────────

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (!existsSync(o.datasets)) throw new Error(`datasets folder not found: ${o.datasets} (the input rows come from ../shared/datasets; pass --datasets DIR)`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = require('onnxruntime-node') as Ort;
  const models = new Map(loadBuiltInModels().map((m) => [m.manifest.name, m]));
  const need = (name: string) => {
    const m = models.get(name);
    if (!m) throw new Error(`built-in model ${name} not found under models/`);
    return m;
  };
  const sessions = new Map<string, Promise<InferenceSession>>();
  // The same options as the worker's InferenceService.
  const sessionOf = (m: BuiltInModel) => {
    let s = sessions.get(m.sha256);
    if (!s) sessions.set(m.sha256, (s = ort.InferenceSession.create(m.bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 })));
    return s;
  };

  const header = [
    `bench:ai ${new Date().toISOString()}`,
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    `N ${o.n} per task, concurrency ${o.concurrency}${o.rate ? ` paced at ${o.rate} triggers/s` : ''}, ${o.workers} worker process(es) (AI_CONCURRENCY ${process.env.AI_CONCURRENCY || 4}, WORKER_CONCURRENCY ${process.env.WORKER_CONCURRENCY || 8}, PG_POOL_MAX ${process.env.PG_POOL_MAX || 10}), ${o.patients} patients per task`,
  ];
  process.stdout.write(`${header.join('\n')}\n`);

  const stack = await startStack(o);
  const api = new Api(stack.api.base);
  const pg = quietPool(stack.api.databaseUrl, 2);
  const connection = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const events = new Queue(QUEUES.resourceEvents, { connection, prefix: bullPrefix(stack.queuePrefix) });
  const ai = new Queue(QUEUES.aiTasks, { connection, prefix: bullPrefix(stack.queuePrefix) });
  const results: TaskResult[] = [];
  try {
    await api.login(process.env.AUTH_CLIENT_ID ?? 'admin', process.env.AUTH_CLIENT_SECRET ?? 'dev-only-admin-secret');
    // Ready when every worker listens on ai-tasks and the built-in models are registered.
    const deadline = Date.now() + 60000;
    for (;;) {
      const { rows } = await pg.query<{ n: string }>(`SELECT count(*) AS n FROM ai_models WHERE status = 'active'`).catch(() => ({ rows: [{ n: '0' }] }));
      if ((await ai.getWorkersCount()) >= o.workers && Number(rows[0].n) >= 4) break;
      if (stack.workers.some((w) => w.exitCode !== null)) throw new Error('a worker process exited during start-up');
      if (Date.now() > deadline) throw new Error('the workers did not become ready within 60 s');
      await sleep(250);
    }
    const probe: Probe = { pg, events, ai };
    await waitIdle(probe, 60000);

    for (const key of o.tasks) {
      const task = await defineTask(key, o, need, sessionOf, ort);
      const session = await sessionOf(task.model);
      results.push(await runTask(o, stack, api, probe, task, ort, session));
    }
  } finally {
    api.close();
    await pg.end().catch(() => undefined);
    await stack.stop().catch((e: Error) => process.stderr.write(`stopping: ${e.message}\n`));
    await events.close();
    await ai.close();
    // Every key of the run's prefix goes with it (the queues, and whatever else the processes keep there).
    await deleteKeys(connection, `${bullPrefix(stack.queuePrefix)}:*`).catch((e: Error) => process.stderr.write(`cleaning Redis: ${e.message}\n`));
    connection.disconnect();
  }

  const lines = [
    '',
    `summary (${o.workers} worker(s), concurrency ${o.concurrency}${o.rate ? `, paced at ${o.rate}/s` : ''}, N ${o.n}; load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}):`,
    'task              | written  | pred/s | e2e p50 | e2e p95 | e2e max | from request p95 | HTTP write p50/p95 | CPU ms/pred | raw seq pred/s (p50/p95 ms) | raw conc pred/s (p50/p95 ms)',
    ...results.map(
      (r) =>
        `${r.label.padEnd(17)} | ${`${r.written}/${r.n}`.padEnd(8)} | ${r.rate.toFixed(0).padStart(6)} | ${ms(r.e2e.p50).padStart(7)} | ${ms(r.e2e.p95).padStart(7)} | ${ms(r.e2e.max).padStart(7)} | ${ms(r.fromRequest.p95).padStart(16)} | ${`${ms(r.http.p50)}/${ms(r.http.p95)}`.padStart(18)} | ` +
        `${r.cpuPerPrediction.toFixed(1).padStart(11)} | ${`${r.rawSeq.rate.toFixed(0)} (${ms(r.rawSeq.latency.p50)}/${ms(r.rawSeq.latency.p95)})`.padStart(27)} | ${`${r.rawConc.rate.toFixed(0)} (${ms(r.rawConc.latency.p50)}/${ms(r.rawConc.latency.p95)})`.padStart(28)}`,
    ),
    `targets: >= ${TARGET_RATE} predictions/s with every record written, e2e p95 < ${TARGET_P95_MS} ms at that load: ` +
      results.map((r) => `${r.label} ${r.rate >= TARGET_RATE && r.e2e.p95 < TARGET_P95_MS && r.written === r.n ? 'met' : 'not met'}`).join(', '),
    '',
  ];
  process.stdout.write(lines.join('\n'));
  const problems = results.flatMap((r) => r.problems.map((p) => `${r.label}: ${p}`));
  if (problems.length) {
    process.stdout.write(`problems:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
    process.exitCode = 1;
  }
}

async function deleteKeys(redis: ReturnType<typeof createRedis>, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

async function defineTask(key: TaskKey, o: Options, need: (name: string) => BuiltInModel, sessionOf: (m: BuiltInModel) => Promise<InferenceSession>, ort: Ort): Promise<TaskDef> {
  const probability = (r: Resource) => (r as { prediction?: Array<{ probabilityDecimal?: number }> }).prediction?.[0]?.probabilityDecimal;
  const condition = (code: typeof CAD_CODE) => (p: PatientSetup): Resource => ({ resourceType: 'Condition', subject: { reference: `Patient/${p.patientId}` }, code: { coding: [code] }, recordedDate: new Date().toISOString() });
  switch (key) {
    case 'cad':
    case 'wdbc': {
      const model = need(key === 'cad' ? 'cad-cleveland' : 'breast-wdbc');
      const patients = key === 'cad' ? cadPatients(o.datasets, model, o.patients) : wdbcPatients(o.datasets, model, o.patients);
      return {
        key,
        label: key === 'cad' ? 'diagnosis CAD' : 'diagnosis WDBC',
        model,
        aiTask: 'diagnosis-confidence',
        outputType: 'RiskAssessment',
        patients,
        rowOf: (_i, p) => p.row,
        trigger: { method: 'POST', type: 'Condition', path: () => '/fhir/Condition', body: condition(key === 'cad' ? CAD_CODE : BREAST_CODE) },
        updatesTrigger: true,
        tableCheck: 'diagnoses',
        storedPrediction: probability,
        rawPrediction: (out) => Math.round(out.probability[0] * 10000) / 10000,
      };
    }
    case 'triage':
    case 'triage-request': {
      const model = need('triage-news2');
      const viaRequest = key === 'triage-request';
      const patients = triagePatients(model, o.patients, !viaRequest);
      const priority = (r: Resource) => {
        const c = (r as { prediction?: Array<{ outcome?: { coding?: Array<{ code?: string }> } }> }).prediction?.[0]?.outcome?.coding?.[0]?.code;
        return c === undefined ? undefined : Number(c);
      };
      return {
        key,
        label: viaRequest ? 'triage ($triage)' : 'triage (vital)',
        model,
        aiTask: 'triage',
        outputType: 'RiskAssessment',
        patients,
        rowOf: (_i, p) => p.row,
        trigger: viaRequest
          ? { method: 'POST', type: 'Task', path: (p) => `/fhir/Patient/${p.patientId}/$triage`, body: () => undefined }
          : {
              method: 'POST',
              type: 'Observation',
              path: () => '/fhir/Observation',
              // The pulse again, as recorded on arrival in the emergency encounter: the same value, so
              // the worker's input row is the patient's set-up row whatever order the jobs run in.
              body: (p) => {
                const pulse = p.others.find((r) => r.resourceType === 'Observation' && (r as Observation).code?.coding?.[0]?.code === '8867-4') as Observation;
                return { ...pulse, subject: { reference: `Patient/${p.patientId}` }, encounter: { reference: `Encounter/${p.encounterId}` }, effectiveDateTime: new Date().toISOString() };
              },
            },
        updatesTrigger: viaRequest,
        tableCheck: 'triage',
        storedPrediction: priority,
        rawPrediction: (out) => out.priority[0],
      };
    }
    case 'sentiment': {
      const model = need('sentiment-uci');
      const session = await sessionOf(model);
      const sentences = await sentimentSentences(o.datasets, session, ort, o.n);
      const patients: PatientSetup[] = Array.from({ length: Math.min(o.patients, 50) }, (_, i) => ({
        patient: { resourceType: 'Patient', name: [{ family: `Feedback${i}`, given: ['Bench'] }], gender: 'female', birthDate: '1990-01-01' },
        others: [],
        row: {},
      }));
      const textOf = (i: number) => sentences[i % sentences.length].text.trim();
      return {
        key,
        label: 'sentiment',
        model,
        aiTask: 'sentiment',
        outputType: 'Observation',
        patients,
        rowOf: (i) => ({ text: textOf(i) }),
        trigger: {
          method: 'POST',
          type: 'QuestionnaireResponse',
          path: () => '/fhir/QuestionnaireResponse',
          body: (p, i) => ({
            resourceType: 'QuestionnaireResponse',
            status: 'completed',
            subject: { reference: `Patient/${p.patientId}` },
            authored: new Date().toISOString(),
            item: [
              { linkId: 'rating', answer: [{ valueInteger: sentences[i % sentences.length].label ? 5 : 1 }] },
              { linkId: 'comments', answer: [{ valueString: textOf(i) }] },
            ],
          }),
        },
        updatesTrigger: true,
        tableCheck: 'feedback',
        storedPrediction: (r) => (r as Observation).valueQuantity?.value,
        rawPrediction: (out) => Math.round(out.score[0] * 10000) / 10000,
      };
    }
  }
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`bench:ai failed: ${e instanceof Error ? e.stack : e}\n`);
    process.exit(1);
  });
}
