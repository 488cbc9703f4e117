/**
 * @jest-environment ./test/helpers/ort-test-environment.js
 */
import request from 'supertest';
import { FhirApi, expectStatus, type Json } from '../helpers/fhir-api';
import { patient } from '../helpers/resources';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, fetchToken, startTestApp, type TestApp } from '../helpers/test-app';
import { startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { MetricsPublisher } from '../../src/metrics/metrics-publisher.service';

/**
 * The operations view: Prometheus metrics of the API and the worker at /metrics, and the queue
 * dashboard (bull-board) at /admin/queues, both for administrators only.
 */
let t: TestApp;
let worker: TestWorker;
let api: FhirApi;
let ehrToken: string;
let ehrBasic: string;

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  api = new FhirApi(t);
  const made = await request(t.app.getHttpServer()).post('/api/clients').set('Authorization', `Bearer ${t.token}`).send({ role: 'ehr-system' });
  expect(made.status).toBe(201);
  ehrToken = await fetchToken(t.app, made.body.client_id, made.body.client_secret);
  ehrBasic = basic(made.body.client_id, made.body.client_secret);
}, 60000);

afterAll(async () => {
  await worker?.close();
  await t?.close();
});

const http = () => request(t.app.getHttpServer());
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** The value of one series in a Prometheus text exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const body = line.slice(name.length).match(/^\{(.*)\}\s+(\S+)$/) ?? line.slice(name.length).match(/^()\s+(\S+)$/);
    if (!body) continue;
    const have = Object.fromEntries([...body[1].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(body[2]);
  }
  return undefined;
}

describe('GET /metrics', () => {
  it('is refused without a token (401) and to non-administrators (403), as OperationOutcomes', async () => {
    const anonymous = await http().get('/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.resourceType).toBe('OperationOutcome');
    const ehr = await http().get('/metrics').set('Authorization', `Bearer ${ehrToken}`);
    expect(ehr.status).toBe(403);
    expect(ehr.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] });
  });

  it('serves the queues, the outbox, HTTP latency, and the worker\'s AI job, inference and prediction metrics', async () => {
    const p = expectStatus(await api.create(patient()), 201).body as Json;
    const qr = expectStatus(
      await api.create({
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        subject: { reference: `Patient/${p.id}` },
        item: [
          { linkId: 'rating', answer: [{ valueInteger: 5 }] },
          { linkId: 'comments', answer: [{ valueString: 'Wonderful, kind and helpful staff.' }] },
        ],
      }),
      201,
    ).body as Json;
    await waitFor('the sentiment of the feedback', async () => {
      const r = (await api.read('QuestionnaireResponse', qr.id as string)).body as Json;
      return r.extension ? r : undefined;
    }, 30000);
    // Workers publish every few seconds; publish now rather than wait.
    await worker.ctx.get(MetricsPublisher).publish();

    const res = await http().get('/metrics').set('Authorization', `Bearer ${t.token}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.text;

    // System-wide gauges read at scrape time.
    expect(sample(text, 'fhir_redis_up', {})).toBe(1);
    expect(sample(text, 'fhir_outbox_pending_events', {})).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'fhir_queue_jobs', { queue: 'ai-tasks', state: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'fhir_queue_jobs', { queue: 'resource-events', state: 'failed' })).toBe(0);

    // The API's own request latency, by route pattern.
    expect(sample(text, 'fhir_http_request_duration_seconds_count', { role: 'api', method: 'POST', route: '/fhir/:type', status: '201' })).toBeGreaterThanOrEqual(2);

    // The worker's numbers, published through Redis.
    expect(sample(text, 'ai_predictions_total', { role: 'worker', task: 'sentiment' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'ai_jobs_total', { role: 'worker', task: 'sentiment', outcome: 'written' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'ai_job_duration_seconds_count', { role: 'worker', task: 'sentiment' })).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/ai_inference_duration_seconds_count\{[^}]*model="sentiment-[^"]+"[^}]*role="worker"/);
    expect(sample(text, 'fhir_resource_events_total', { role: 'worker', action: 'create' })).toBeGreaterThanOrEqual(2);
  }, 60000);
});

describe('the queue dashboard at /admin/queues', () => {
  it('asks a browser to sign in, and refuses wrong credentials and non-administrators', async () => {
    const anonymous = await http().get('/admin/queues');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect(anonymous.body.resourceType).toBe('OperationOutcome');

    const wrong = await http().get('/admin/queues').set('Authorization', basic(TEST_CLIENT_ID, 'not-the-secret'));
    expect(wrong.status).toBe(401);
    const ehr = await http().get('/admin/queues').set('Authorization', ehrBasic);
    expect(ehr.status).toBe(403);
    const ehrBearer = await http().get('/admin/queues/api/queues').set('Authorization', `Bearer ${ehrToken}`);
    expect(ehrBearer.status).toBe(403);
  });

  it('shows every queue to an administrator (Basic from a browser, or a bearer token)', async () => {
    const page = await http().get('/admin/queues').set('Authorization', basic(TEST_CLIENT_ID, TEST_CLIENT_SECRET));
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.text).toContain('FHIR AI queues');
    // The page's own assets are served behind the same sign-in.
    const relative = /(?:src|href)="(static\/[^"]+)"/.exec(page.text)?.[1];
    expect(relative).toBeDefined();
    const asset = `/admin/queues/${relative}`;
    expect((await http().get(asset)).status).toBe(401);
    expect((await http().get(asset).set('Authorization', basic(TEST_CLIENT_ID, TEST_CLIENT_SECRET))).status).toBe(200);

    const queues = await http().get('/admin/queues/api/queues').set('Authorization', `Bearer ${t.token}`);
    expect(queues.status).toBe(200);
    const names = (queues.body.queues as Array<{ name: string }>).map((q) => q.name).sort();
    expect(names).toEqual(['ai-tasks', 'bulk-export', 'exchange-push', 'exchange-sync', 'resource-events', 'subscription-deliveries']);
  });
});
