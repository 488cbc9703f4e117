import type { Job, Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { AiTaskRunner } from '../../src/ai/ai-task.runner';
import type { AppConfig } from '../../src/config/app-config';
import type { PushTrigger } from '../../src/exchange/push/push-trigger.service';
import type { ResourceStore } from '../../src/fhir/store/resource-store.repository';
import { Metrics } from '../../src/metrics/metrics';
import type { ResourceEvent, ResourceEventGroup } from '../../src/outbox/outbox.repository';
import { resourceEventJobId } from '../../src/queue/queues';
import type { SubscriptionMatcher } from '../../src/subscriptions/subscription-matcher.service';
import { ResourceEventProcessor, groupReader } from './resource-event.processor';
import type { AiJob } from '../../src/ai/ai-plugin';
import { coalescePerPatient } from '../../src/ai/job-coalescing';
import type { StoredVersion } from '../../src/fhir/store/resource-store.repository';

const event = (n: number, resourceType = 'Observation'): ResourceEvent => ({
  id: String(n),
  resourceType,
  resourceId: `r${n}`,
  versionId: 1,
  patientId: 'p1',
  action: 'create',
  actor: 'client:test',
});

interface Added {
  name: string;
  data: unknown;
  opts: { jobId?: string; attempts?: number };
}

/** The processor with stand-ins for its collaborators: `failing` events make the AI fan-out throw. */
function processor(failing: Set<string>, addFails = false, store = {} as ResourceStore, vitalSigns = false) {
  const added: Added[] = [];
  const queue = (into: Added[]) =>
    ({
      add: async (name: string, data: unknown, opts: Added['opts']) => {
        if (addFails) throw new Error('Redis refused');
        into.push({ name, data, opts });
      },
    }) as unknown as Queue;
  const runner = {
    jobsFor: async (e: ResourceEvent, read: () => Promise<StoredVersion | undefined>) => {
      if (failing.has(e.id)) throw new Error(`cannot fan out ${e.id}`);
      if (e.resourceType === 'Observation') await read(); // as the triage plugin reads vital signs
      const task = e.resourceType === 'Condition' ? 'diagnosis-confidence' : vitalSigns && e.resourceType === 'Observation' ? 'triage' : undefined;
      return task ? [{ task, resourceType: e.resourceType, resourceId: e.resourceId, versionId: e.versionId, patientId: e.patientId }] : [];
    },
    coalesce: (jobs: AiJob[][]) => coalescePerPatient(jobs, (task) => task === 'triage'),
  } as unknown as AiTaskRunner;
  const aiJobs: Added[] = [];
  const p = new ResourceEventProcessor(
    { warn: () => undefined, debug: () => undefined } as unknown as Logger,
    runner,
    queue(aiJobs),
    queue(added),
    new Metrics('worker'),
    { matching: async () => [] } as unknown as SubscriptionMatcher,
    queue([]),
    { subscriptionDeliveryAttempts: 3 } as AppConfig,
    { onEvent: async () => undefined } as unknown as PushTrigger,
    store,
  );
  return { p, added, aiJobs };
}

/** A store that records its reads and finds every resource but the `missing` ones. */
function storeStub(missing = new Set<string>()) {
  const many: string[][] = [];
  const single: string[] = [];
  const version = (resourceType: string, id: string) => ({ resourceType, id, versionId: 1, lastUpdated: new Date(0), deleted: false, patientId: 'p1', json: '{}' }) as unknown as StoredVersion;
  const store = {
    readCurrentMany: async (keys: Array<{ resourceType: string; id: string }>) => {
      many.push(keys.map((k) => `${k.resourceType}/${k.id}`));
      return new Map(keys.filter((k) => !missing.has(`${k.resourceType}/${k.id}`)).map((k) => [`${k.resourceType}/${k.id}`, version(k.resourceType, k.id)]));
    },
    readCurrent: async (resourceType: string, id: string) => {
      single.push(`${resourceType}/${id}`);
      return missing.has(`${resourceType}/${id}`) ? undefined : version(resourceType, id);
    },
  } as unknown as ResourceStore;
  return { store, many, single };
}

const job = (data: ResourceEventGroup | ResourceEvent) => ({ id: 'j1', data }) as Job<ResourceEventGroup | ResourceEvent>;

describe('ResourceEventProcessor', () => {
  it('fans out every event of a group, and queues an event that fails again alone under its own id', async () => {
    const { p, added, aiJobs } = processor(new Set(['2']), false, storeStub().store);
    const events = [event(1), event(2), event(3, 'Condition')];
    const result = await p.process(job({ events }));
    expect(result).toEqual({
      fannedOut: [
        { event: resourceEventJobId(events[0]), handledBy: [], notified: [] },
        { event: resourceEventJobId(events[2]), handledBy: ['diagnosis-confidence'], notified: [] },
      ],
      retriedAlone: [resourceEventJobId(events[1])],
    });
    expect(added).toEqual([{ name: 'create:Observation', data: events[1], opts: expect.objectContaining({ jobId: resourceEventJobId(events[1]), attempts: 5 }) }]);
    expect(aiJobs.map((j) => j.opts.jobId)).toEqual(['diagnosis-confidence/Condition/r3/_history/1']);
  });

  it("queues one triage for a transaction's vital signs of one patient (the last one's), the other events as usual", async () => {
    const { p, aiJobs } = processor(new Set(), false, storeStub().store, true);
    const events = [event(1), event(2), event(3, 'Condition'), event(4), { ...event(5), patientId: 'p2' }];
    const result = await p.process(job({ events }));
    expect(aiJobs.map((j) => j.opts.jobId)).toEqual(['diagnosis-confidence/Condition/r3/_history/1', 'triage/Observation/r4/_history/1', 'triage/Observation/r5/_history/1']);
    expect((result as { fannedOut: Array<{ handledBy: string[] }> }).fannedOut.map((f) => f.handledBy)).toEqual([[], [], ['diagnosis-confidence'], ['triage'], ['triage']]);
  });

  it('fails an event retried alone with its own error (BullMQ retries it, then keeps it failed)', async () => {
    const stub = storeStub();
    const { p } = processor(new Set(['2']), false, stub.store);
    await expect(p.process(job(event(2)))).rejects.toThrow('cannot fan out 2');
    await expect(p.process(job(event(1)))).resolves.toEqual({ event: resourceEventJobId(event(1)), handledBy: [], notified: [] });
    expect(stub.single).toEqual(['Observation/r1']); // an event alone reads its own resource only
  });

  it("reads a group's resources once, in one statement, when the first is needed", async () => {
    const stub = storeStub();
    const { p } = processor(new Set(), false, stub.store);
    const events = [event(1), event(2), event(1), event(3, 'Condition')];
    await p.process(job({ events }));
    expect(stub.many).toEqual([['Observation/r1', 'Observation/r2', 'Observation/r1', 'Condition/r3']]); // repeats removed by readCurrentMany
    expect(stub.single).toEqual([]);
  });

  it("reads nothing for a group whose events want nothing read", async () => {
    const stub = storeStub();
    const { p } = processor(new Set(), false, stub.store);
    await p.process(job({ events: [event(3, 'Condition'), event(4, 'Provenance')] }));
    expect(stub.many).toEqual([]);
  });

  it('groupReader reads each event alone when the group read fails, and never reads a deletion', async () => {
    const stub = storeStub();
    const failing = { ...stub.store, readCurrentMany: async () => Promise.reject(new Error('connection lost')) } as unknown as ResourceStore;
    const read = groupReader(failing, [event(1), event(2), { ...event(3), action: 'delete' }]);
    expect((await read(event(1)))?.id).toBe('r1');
    expect((await read(event(2)))?.id).toBe('r2');
    expect(stub.single).toEqual(['Observation/r1', 'Observation/r2']);
    const keys = storeStub();
    await groupReader(keys.store, [event(1), { ...event(3), action: 'delete' }])(event(1));
    expect(keys.many).toEqual([['Observation/r1']]);
  });

  it('groupReader answers each event with its own resource, undefined for one that is gone', async () => {
    const stub = storeStub(new Set(['Observation/r2']));
    const read = groupReader(stub.store, [event(1), event(2)]);
    expect((await read(event(1)))?.id).toBe('r1');
    expect(await read(event(2))).toBeUndefined();
    expect(stub.many).toHaveLength(1);
  });

  it('fails the whole group when a failed event cannot be queued again, so that the group is retried', async () => {
    const { p } = processor(new Set(['1']), true);
    await expect(p.process(job({ events: [event(1), event(2)] }))).rejects.toThrow('Redis refused');
  });
});
