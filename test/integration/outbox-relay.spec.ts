import { Injectable, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Processor, WorkerHost, getQueueToken } from '@nestjs/bullmq';
import { MikroORM } from '@mikro-orm/core';
import { Test } from '@nestjs/testing';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Client } from 'pg';
import { LOGGER } from '../../src/core/core.module';
import { createLogger } from '../../src/core/logger';
import { QUEUES } from '../../src/queue/queues';
import { REDIS } from '../../src/queue/redis.provider';
import { HandlerCheck } from '../../workers/handler-check';
import { ResourceEventProcessor } from '../../workers/processors/resource-event.processor';
import { WorkerModule } from '../../workers/worker.module';
import { FhirApi, expectStatus } from '../helpers/fhir-api';
import { outboxSince, type OutboxRow } from '../helpers/raw-db';
import { deviceObservation, patient } from '../helpers/resources';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { rawClient } from '../helpers/test-database';
import { REFUSING_REDIS_URL, TEST_REDIS_URL, resourceEventsQueue, startTestWorker, type TestWorker } from '../helpers/test-worker';
import { waitFor } from '../helpers/wait-for';
import { PUBLISH_TIMEOUT_MS } from '../../src/queue/table-to-queue';

/** The outbox after the test's own writes, without the Device events of the worker registering its built-in models. */
async function ownEvents(pg: Client): Promise<OutboxRow[]> {
  return (await outboxSince(pg, 0)).filter((e) => e.resource_type !== 'Device');
}

/**
 * The transactional outbox drained into BullMQ by the worker process: deterministic job ids, no
 * duplicates, nothing lost while Redis is down; and the worker's refusal to start with a queue that
 * no processor serves.
 */

const ALL_STATES = ['completed', 'failed', 'active', 'waiting', 'delayed', 'prioritized', 'waiting-children', 'paused'] as const;

/** Every job id in the queue, whatever its state, sorted. */
async function jobIds(queue: Queue): Promise<string[]> {
  const jobs = await queue.getJobs([...ALL_STATES]);
  // Leaves out the Devices of the built-in models, which every starting worker registers.
  return jobs.map((j) => j.id as string).filter((id) => !id.includes('/Device/')).sort();
}

function jobIdOf(e: Pick<OutboxRow, 'action' | 'resource_type' | 'resource_id' | 'version_id'>): string {
  return `${e.action}/${e.resource_type}/${e.resource_id}/_history/${e.version_id}`;
}

/** Writes a Patient (create, update) and a device Observation (create, delete): four events. */
async function writeSomeResources(api: FhirApi): Promise<string[]> {
  const p = await api.created(patient());
  await api.updated({ ...p, birthDate: '1970-01-02' });
  // A glucometer reading: a device Observation that no AI plugin takes (a vital sign would start the anomaly plugin).
  const glucose = { coding: [{ system: 'http://loinc.org', code: '2339-0', display: 'Glucose [Mass/volume] in Blood' }] };
  const obs = await api.created(deviceObservation(p.id, { code: glucose, valueQuantity: { value: 95, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' } }));
  expectStatus(await api.delete('Observation', obs.id), 200);
  return [
    `create/Patient/${p.id}/_history/1`,
    `update/Patient/${p.id}/_history/2`,
    `create/Observation/${obs.id}/_history/1`,
    `delete/Observation/${obs.id}/_history/2`,
  ].sort();
}

describe('outbox relay (Redis up)', () => {
  let t: TestApp;
  let api: FhirApi;
  let pg: Client;
  let queue: Queue;
  let worker: TestWorker | undefined;

  beforeAll(async () => {
    t = await startTestApp();
    api = new FhirApi(t);
    pg = await rawClient(t.db.url);
    queue = resourceEventsQueue(t.config.queuePrefix);
    // Poll so rarely that only the NOTIFY sent on commit can wake the relay within these tests.
    const poll = process.env.OUTBOX_POLL_MS;
    process.env.OUTBOX_POLL_MS = '600000';
    try {
      worker = await startTestWorker(t.config);
    } finally {
      if (poll === undefined) delete process.env.OUTBOX_POLL_MS;
      else process.env.OUTBOX_POLL_MS = poll;
    }
  });

  afterAll(async () => {
    await worker?.close();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    await pg?.end();
    await t?.close();
  });

  it('publishes every committed write as a job with a deterministic id, which the processor completes', async () => {
    const expected = await writeSomeResources(api);
    const outbox = await ownEvents(pg);
    expect(outbox.map(jobIdOf).sort()).toEqual(expected);

    await waitFor('every outbox event to be dispatched', async () => (await ownEvents(pg)).every((e) => e.dispatched_at !== null));
    await waitFor('every job to complete', async () => {
      const states = await Promise.all(expected.map((id) => queue.getJobState(id)));
      return states.every((s) => s === 'completed');
    });
    expect(await jobIds(queue)).toEqual(expected);

    for (const e of outbox) {
      const job = (await queue.getJob(jobIdOf(e))) as Job;
      expect(job.name).toBe(`${e.action}:${e.resource_type}`);
      expect(job.data).toEqual({
        id: String(e.id),
        resourceType: e.resource_type,
        resourceId: e.resource_id,
        versionId: e.version_id,
        patientId: e.patient_id,
        action: e.action,
        // Who wrote it (the write transaction's actor): the fan-out passes over the AI's own writes by it.
        actor: expect.stringMatching(/^client:/),
      });
      expect(job.returnvalue).toEqual({ handledBy: [], notified: [] });
    }
  });

  it('makes no duplicate job when events are published again (a crash between publish and mark)', async () => {
    await waitFor('the outbox to be drained', async () => (await ownEvents(pg)).every((e) => e.dispatched_at !== null));
    const before = await jobIds(queue);
    expect(before.length).toBeGreaterThan(0);
    const countsBefore = await queue.getJobCounts(...ALL_STATES);

    // Forget that they were dispatched, as if the relay had died before marking them.
    await pg.query('UPDATE outbox_events SET dispatched_at = NULL');
    await worker!.relay.drainAll();
    await waitFor('the outbox to be drained again', async () => (await ownEvents(pg)).every((e) => e.dispatched_at !== null));
    // And once more: nothing is left to publish.
    expect(await worker!.relay.drainAll()).toBe(0);

    expect(await jobIds(queue)).toEqual(before);
    expect(await queue.getJobCounts(...ALL_STATES)).toEqual(countsBefore);
  });

  it('publishes a write made while it runs, woken by the commit (not by polling)', async () => {
    const p = await api.created(patient());
    const id = `create/Patient/${p.id}/_history/1`;
    await waitFor(`job ${id} to complete`, async () => (await queue.getJobState(id)) === 'completed', 10000);
  });
});

describe('outbox relay (Redis down)', () => {
  let t: TestApp;
  let api: FhirApi;
  let pg: Client;
  let queue: Queue;
  let worker: TestWorker | undefined;

  beforeAll(async () => {
    // The API itself is pointed at the refusing Redis too: writes must not need it.
    t = await startTestApp({ REDIS_URL: REFUSING_REDIS_URL });
    api = new FhirApi(t);
    pg = await rawClient(t.db.url);
    queue = resourceEventsQueue(t.config.queuePrefix);
  });

  afterAll(async () => {
    await worker?.close();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    await pg?.end();
    await t?.close();
    // ioredis gives a socket that never connected 2 s to close after disconnect(); let those timers
    // run out here rather than keep jest from exiting.
    await new Promise((r) => setTimeout(r, 2100));
  });

  it('keeps events in the outbox while Redis refuses, then a relay with Redis back publishes them all', async () => {
    worker = await startTestWorker({ ...t.config, redisUrl: REFUSING_REDIS_URL });
    const expected = await writeSomeResources(api);
    // Give the relay time for its NOTIFY wake-ups and a couple of polls.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await worker.relay.drainAll()).toBe(0);
    const pending = await ownEvents(pg);
    expect(pending.map(jobIdOf).sort()).toEqual(expected);
    expect(pending.every((e) => e.dispatched_at === null)).toBe(true);
    expect(await jobIds(queue)).toEqual([]);
    // A worker whose Redis is down still shuts down promptly (and leaves the events to the next relay).
    const closing = Date.now();
    await worker.close();
    worker = undefined;
    expect(Date.now() - closing).toBeLessThan(PUBLISH_TIMEOUT_MS);

    worker = await startTestWorker({ ...t.config, redisUrl: TEST_REDIS_URL });
    await waitFor('the pending events to be dispatched', async () => (await ownEvents(pg)).every((e) => e.dispatched_at !== null));
    await waitFor('every job to complete', async () => {
      const states = await Promise.all(expected.map((id) => queue.getJobState(id)));
      return states.every((s) => s === 'completed');
    });
    expect(await jobIds(queue)).toEqual(expected);
  });
});

describe('worker start-up check', () => {
  const logger = createLogger('fatal', 'test');

  @Processor(QUEUES.resourceEvents)
  @Injectable()
  class SecondResourceEventProcessor extends WorkerHost {
    async process(): Promise<void> {}
  }

  /** Stand-ins for the real processors (which need the whole worker module). */
  @Processor(QUEUES.resourceEvents)
  @Injectable()
  class StubResourceEvents extends WorkerHost {
    async process(): Promise<void> {}
  }

  @Processor(QUEUES.aiTasks)
  @Injectable()
  class StubAiTasks extends WorkerHost {
    async process(): Promise<void> {}
  }

  @Processor(QUEUES.bulkExport)
  @Injectable()
  class StubBulkExport extends WorkerHost {
    async process(): Promise<void> {}
  }

  @Processor(QUEUES.subscriptionDeliveries)
  @Injectable()
  class StubDeliveries extends WorkerHost {
    async process(): Promise<void> {}
  }

  @Processor(QUEUES.exchangePush)
  @Injectable()
  class StubExchangePush extends WorkerHost {
    async process(): Promise<void> {}
  }

  @Processor(QUEUES.exchangeSync)
  @Injectable()
  class StubExchangeSync extends WorkerHost {
    async process(): Promise<void> {}
  }

  /** One stand-in per queue. */
  const allStubs = [StubResourceEvents, StubAiTasks, StubBulkExport, StubDeliveries, StubExchangePush, StubExchangeSync];

  @Processor('some-other-queue')
  @Injectable()
  class OtherQueueProcessor extends WorkerHost {
    async process(): Promise<void> {}
  }

  async function initWith(providers: unknown[]): Promise<void> {
    @Module({ imports: [DiscoveryModule], providers: [HandlerCheck, { provide: LOGGER, useValue: logger }, ...(providers as [])] })
    class ProbeModule {}
    const moduleRef = await Test.createTestingModule({ imports: [ProbeModule] }).compile();
    try {
      await moduleRef.init();
    } finally {
      await moduleRef.close().catch(() => undefined);
    }
  }

  it('starts when every queue has exactly one processor', async () => {
    await expect(initWith(allStubs)).resolves.toBeUndefined();
    await expect(initWith(allStubs.filter((s) => s !== StubAiTasks))).rejects.toThrow('Queue "ai-tasks" has 0 processors; it needs exactly one');
  });

  it('refuses to start when a queue has no processor', async () => {
    await expect(initWith([])).rejects.toThrow('Queue "resource-events" has 0 processors; it needs exactly one');
    // A processor of another queue does not count.
    await expect(initWith([OtherQueueProcessor])).rejects.toThrow('Queue "resource-events" has 0 processors');
  });

  it('refuses to start when a queue has two processors', async () => {
    await expect(initWith([...allStubs, SecondResourceEventProcessor])).rejects.toThrow('Queue "resource-events" has 2 processors');
  });

  it('refuses to start the real worker module without its processor', async () => {
    const t = await startTestApp();
    try {
      const mod = WorkerModule.forRoot(t.config, logger);
      mod.providers = (mod.providers ?? []).filter((p) => p !== ResourceEventProcessor);
      const moduleRef = await Test.createTestingModule({ imports: [mod] }).compile();
      try {
        await expect(moduleRef.init()).rejects.toThrow('Queue "resource-events" has 0 processors');
      } finally {
        // Nest's close() rethrows a failed init without running the shutdown hooks: release by hand
        // what the module opened (in the worker process, main() exits instead).
        // Every queue the module opened, before the connection they share goes (a queue still
        // connecting when it closes would emit an unhandled 'Connection is closed').
        for (const name of Object.values(QUEUES)) {
          let queue: { close(): Promise<void> } | undefined;
          try {
            queue = moduleRef.get(getQueueToken(name), { strict: false });
          } catch {
            continue; // not registered by this module
          }
          await queue?.close().catch(() => undefined);
        }
        moduleRef.get<Redis>(REDIS, { strict: false }).disconnect();
        await moduleRef.get(MikroORM, { strict: false }).close(true);
      }
    } finally {
      const queue = resourceEventsQueue(t.config.queuePrefix);
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await t.close();
    }
  });
});
