import { hostname } from 'node:os';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type ProcessRole = 'api' | 'worker';

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The metrics of one process (API or worker), in its own prom-client registry. Every series
 * carries `role` and `process` labels, so that the series of many processes can be served
 * side by side from one /metrics (see MetricsExposition) without being summed into each other.
 */
export class Metrics {
  readonly registry = new Registry();
  /** This process among all that publish metrics (a test may run an API and a worker in one process). */
  readonly instance: string;

  readonly httpRequestSeconds = new Histogram({
    name: 'fhir_http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });

  readonly resourceEvents = new Counter({
    name: 'fhir_resource_events_total',
    help: 'Resource events taken from the resource-events queue, by action',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });

  readonly aiJobs = new Counter({
    name: 'ai_jobs_total',
    help: 'AI jobs finished, by task and outcome (written, skipped, failed)',
    labelNames: ['task', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly aiJobSeconds = new Histogram({
    name: 'ai_job_duration_seconds',
    help: 'Time to run one AI job (read inputs, infer, write outputs), by task',
    labelNames: ['task'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });

  readonly aiJobWaitSeconds = new Histogram({
    name: 'ai_job_wait_seconds',
    help: 'Time an AI job waited in its queue before a worker took it, by task',
    labelNames: ['task'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });

  readonly inferenceSeconds = new Histogram({
    name: 'ai_inference_duration_seconds',
    help: 'onnxruntime session.run latency, by model version',
    labelNames: ['model'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });

  readonly predictions = new Counter({
    name: 'ai_predictions_total',
    help: 'Predictions whose outputs were written (not outputs saying too little is known), by model version and task',
    labelNames: ['model', 'task'] as const,
    registers: [this.registry],
  });

  constructor(readonly role: ProcessRole) {
    this.instance = `${role}@${hostname()}:${process.pid}`;
    // `instance` is Prometheus's own target label, hence `process`.
    this.registry.setDefaultLabels({ role, process: `${hostname()}:${process.pid}` });
    collectDefaultMetrics({ register: this.registry });
  }
}
