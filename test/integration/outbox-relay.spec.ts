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
import { QUEUES, resourceEventJobId, resourceEventsJobId } from '../../src/queue/queues';
import { OutboxRepository, type ResourceEvent, type ResourceEventGroup } from '../../src/outbox/outbox.repository';
import { eventGroupJobs } from '../../src/outbox/outbox-relay.service';
import { REDIS } from '../../src/queue/redis.provider';
import { HandlerCheck } from '../../workers/handler-check';
import { ResourceEventProcessor } from '../../workers/processors/resource-event.processor';
import { WorkerModule } from '../../workers/worker.module';
import { FhirApi, expectStatus, type Json } from '../helpers/fhir-api';
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

type EventJob = Job<ResourceEventGroup | ResourceEvent>;

/** The events a job carries (a transaction's group, or one event retried alone). */
function eventsOf(job: EventJob): ResourceEvent[] {
  return 'events' in job.data ? job.data.events : [job.data];
}

/** The jobs of the queue, whatever their state, but those of Device events only (every starting worker registers its built-in models). */
async function eventJobs(queue: Queue): Promise<EventJob[]> {
  const jobs = (await queue.getJobs([...ALL_STATES])) as EventJob[];
  return jobs.filter((j) => eventsOf(j).some((e) => e.resourceType !== 'Device'));
}

/** Every job id in the queue (as eventJobs), sorted. */
async function jobIds(queue: Queue): Promise<string[]> {
  return (await eventJobs(queue)).map((j) => j.id as string).sort();
}

/** The events published to the queue (named as resourceEventJobId names them), sorted, with repeats. */
async function publishedEvents(queue: Queue): Promise<string[]> {
  return (await eventJobs(queue))
    .flatMap(eventsOf)
    .filter((e) => e.resourceType !== 'Device')
    .map(resourceEventJobId)
    .sort();
}

/** Whether every job carrying one of these events has completed. */
async function allCompleted(queue: Queue, events: readonly string[]): Promise<boolean> {
  const jobs = (await eventJobs(queue)).filter((j) => eventsOf(j).some((e) => events.includes(resourceEventJobId(e))));
  const carried = new Set(jobs.flatMap(eventsOf).map(resourceEventJobId));
  if (!events.every((e) => carried.has(e))) return false;
  return (await Promise.all(jobs.map((j) => j.getState()))).every((s) => s === 'completed');
}

function jobIdOf(e: Pick<OutboxRow, 'action' | 'resource_type' | 'resource_id' | 'version_id'>): string {
  return `${e.action}/${e.resource_type}/${e.resource_id}/_history/${e.version_id}`;
}

/** Writes a Patient (create, update) and a device Observation (create, delete): four events, each of its own transaction. */
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

  /** A worker that polls so rarely that only the NOTIFY sent on commit can wake its relay within these tests. */
  async function startWorker(): Promise<TestWorker> {
    const poll = process.env.OUTBOX_POLL_MS;
    process.env.OUTBOX_POLL_MS = '600000';
    try {
      return await startTestWorker(t.config);
    } finally {
      if (poll === undefined) delete process.env.OUTBOX_POLL_MS;
      else process.env.OUTBOX_POLL_MS = poll;
    }
  }

  beforeAll(async () => {
    t = await startTestApp();
    api = new FhirApi(t);
    pg = await rawClient(t.db.url);
    queue = resourceEventsQueue(t.config.queuePrefix);
    worker = await startWorker();
  });

  afterAll(async () => {
    await worker?.close();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    await pg?.end();
    await t?.close();
  });

  it('publishes every committed write in a job named by its events, which the processor completes', async () => {
    const expected = await writeSomeResources(api);
    const outbox = await ownEvents(pg);
    expect(outbox.map(jobIdOf).sort()).toEqual(expected);

    await waitFor('every outbox event to be dispatched', async () => (await ownEvents(pg)).every((e) => e.dispatched_at !== null));
    await waitFor('every job to complete', () => allCompleted(queue, expected));
    // Each event in exactly one job.
    expect(await publishedEvents(queue)).toEqual(expected);

    const jobs = await eventJobs(queue);
    for (const job of jobs) {
      const events = eventsOf(job);
      expect(job.name).toBe('events');
      expect(job.id).toBe(resourceEventsJobId(events.map((e) => e.id)));
      expect(job.returnvalue).toEqual({ fannedOut: events.map((e) => ({ event: resourceEventJobId(e), handledBy: [], notified: [] })), retriedAlone: [] });
    }
    for (const e of outbox) {
      const [carried] = jobs.flatMap(eventsOf).filter((c) => c.id === String(e.id));
      expect(carried).toEqual({
        id: String(e.id),
        resourceType: e.resource_type,
        resourceId: e.resource_id,
        versionId: e.version_id,
        patientId: e.patient_id,
        action: e.action,
        // Who wrote it (the write transaction's actor): the fan-out passes over the AI's own writes by it.
        actor: expect.stringMatching(/^client:/),
      });
    }
  });

  it('groups the events of one transaction in one job', async () => {
    const before = await jobIds(queue);
    const entries = [patient(), patient(), patient()].map((resource) => ({ resource, request: { method: 'POST', url: 'Patient' } }));
    const bundle = expectStatus(await api.bundle({ resourceType: 'Bundle', type: 'transaction', entry: entries }), 200).body as Json;
    const ids = (bundle.entry as Json[]).map((e) => /Patient\/([^/]+)/.exec(e.response.location as string)![1]);
    const events = ids.map((id) => `create/Patient/${id}/_history/1`).sort();
    await waitFor('the transaction\'s job to complete', () => allCompleted(queue, events));
    const added = (await eventJobs(queue)).filter((j) => !before.includes(j.id as string));
    expect(added).toHaveLength(1);
    expect(eventsOf(added[0]).map(resourceEventJobId).sort()).toEqual(events);
  });

  it('makes no duplicate job when events are published again (a crash between publish and mark)', async () => {
    await worker!.close();
    worker = undefined;
    const expected = await writeSomeResources(api);
    // A relay that publishes and dies before marking: the events stay in the outbox, their jobs in the queue.
    const crashed = await t.app
      .get(OutboxRepository)
      .drain(500, async (groups) => {
        await queue.addBulk(groups.flatMap(eventGroupJobs));
        throw new Error('crashed before marking');
      })
      .catch((e: Error) => e);
    expect(crashed).toEqual(new Error('crashed before marking'));
    const pending = (await ownEvents(pg)).filter((e) => e.dispatched_at === null);
    expect(pending.map(jobIdOf).sort()).toEqual(expected);
    const afterCrash = await jobIds(queue);
    const countsAfterCrash = await queue.getJobCounts(...ALL_STATES);

    // The next relay publishes the same events again: under the same job ids.
    worker = await startWorker();
    await waitFor('the outbox to be drained again', async () => (await ownEvents(pg)).every((e) => e.dispatched_at !== null));
    await waitFor('every job to complete', () => allCompleted(queue, expected));
    expect(await worker.relay.drainAll()).toBe(0);
    expect(await jobIds(queue)).toEqual(afterCrash);
    const countsAfter = await queue.getJobCounts(...ALL_STATES);
    expect(Object.values(countsAfter).reduce((a, b) => a + b, 0)).toBe(Object.values(countsAfterCrash).reduce((a, b) => a + b, 0));
    // Every event published once in all.
    expect((await publishedEvents(queue)).filter((e) => expected.includes(e))).toEqual(expected);
  });

  it('publishes a write made while it runs, woken by the commit (not by polling)', async () => {
    const p = await api.created(patient());
    const id = `create/Patient/${p.id}/_history/1`;
    await waitFor(`the job of ${id} to complete`, () => allCompleted(queue, [id]), 10000);
  });
});

describe('outbox drain', () => {
  let t: TestApp;
  let api: FhirApi;
  beforeAll(async () => {
    t = await startTestApp(); // no worker: the events wait
    api = new FhirApi(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('claims a transaction\'s events whole, even when the drain\'s window cuts them', async () => {
    const outbox = t.app.get(OutboxRepository);
    // What start-up wrote is out of the way (marked as published).
    while ((await outbox.drain(1000, async () => undefined)) > 0);
    const lone = await api.created(patient());
    const entries = [patient(), patient(), patient(), patient(), patient()].map((resource) => ({ resource, request: { method: 'POST', url: 'Patient' } }));
    expectStatus(await api.bundle({ resourceType: 'Bundle', type: 'transaction', entry: entries }), 200);
    let published: ResourceEvent[][] = [];
    // A window of 3 events takes the lone write and 2 of the transaction's 5: the other 3 come along.
    const moved = await outbox
      .drain(3, async (groups) => {
        published = groups;
        throw new Error('not marked');
      })
      .catch((e: Error) => e.message);
    expect(moved).toBe('not marked');
    const own = published.map((g) => g.filter((e) => e.resourceType === 'Patient'));
    expect(own.map((g) => g.length)).toEqual([1, 5]);
    expect(own[0][0].resourceId).toBe(lone.id);
    // In outbox order.
    expect(own[1].map((e) => Number(e.id))).toEqual([...own[1].map((e) => Number(e.id))].sort((x, y) => x - y));
  });
});

describe('outbox retention', () => {
  let t: TestApp;
  let api: FhirApi;
  let pg: Client;
  beforeAll(async () => {
    t = await startTestApp(); // no worker: nothing is published but what the test marks
    api = new FhirApi(t);
    pg = await rawClient(t.db.url);
  });
  afterAll(async () => {
    await pg?.end();
    await t?.close();
  });

  it('removes published events older than the cut-off, never unpublished or newer ones', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await api.created(patient())).id as string);
    const rowOf = async (id: string) => (await pg.query<{ id: string }>('SELECT id FROM outbox_events WHERE resource_id = $1', [id])).rows[0]?.id;
    const [old, recent, pendingOld] = [await rowOf(ids[0]), await rowOf(ids[1]), await rowOf(ids[2])];
    await pg.query(`UPDATE outbox_events SET dispatched_at = now() - interval '10 days' WHERE id = $1`, [old]);
    await pg.query(`UPDATE outbox_events SET dispatched_at = now() - interval '1 hour' WHERE id = $1`, [recent]);
    await pg.query(`UPDATE outbox_events SET created_at = now() - interval '10 days' WHERE id = $1`, [pendingOld]); // old, but never published

    const removed = await t.app.get(OutboxRepository).removePublished(new Date(Date.now() - 7 * 24 * 3600_000));
    expect(removed).toBe(1);
    expect(await rowOf(ids[0])).toBeUndefined();
    expect(await rowOf(ids[1])).toBe(recent);
    expect(await rowOf(ids[2])).toBe(pendingOld);
    expect(await rowOf(ids[3])).toBeDefined();
    // Only the oldest rows are looked at, so a call costs the same however long the table.
    await pg.query(`UPDATE outbox_events SET dispatched_at = now() - interval '10 days' WHERE id = $1`, [await rowOf(ids[3])]);
    expect(await t.app.get(OutboxRepository).removePublished(new Date(Date.now() - 7 * 24 * 3600_000), 1)).toBe(0);
    expect(await t.app.get(OutboxRepository).removePublished(new Date(Date.now() - 7 * 24 * 3600_000))).toBe(1);
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
    await waitFor('every job to complete', () => allCompleted(queue, expected));
    expect(await publishedEvents(queue)).toEqual(expected);
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
