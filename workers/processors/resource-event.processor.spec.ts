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
import { ResourceEventProcessor } from './resource-event.processor';

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
function processor(failing: Set<string>, addFails = false) {
  const added: Added[] = [];
  const queue = (into: Added[]) =>
    ({
      add: async (name: string, data: unknown, opts: Added['opts']) => {
        if (addFails) throw new Error('Redis refused');
        into.push({ name, data, opts });
      },
    }) as unknown as Queue;
  const runner = {
    jobsFor: async (e: ResourceEvent) => {
      if (failing.has(e.id)) throw new Error(`cannot fan out ${e.id}`);
      return e.resourceType === 'Condition' ? [{ task: 'diagnosis-confidence', resourceType: e.resourceType, resourceId: e.resourceId, versionId: e.versionId, patientId: e.patientId }] : [];
    },
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
    {} as ResourceStore,
  );
  return { p, added, aiJobs };
}

const job = (data: ResourceEventGroup | ResourceEvent) => ({ id: 'j1', data }) as Job<ResourceEventGroup | ResourceEvent>;

describe('ResourceEventProcessor', () => {
  it('fans out every event of a group, and queues an event that fails again alone under its own id', async () => {
    const { p, added, aiJobs } = processor(new Set(['2']));
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

  it('fails an event retried alone with its own error (BullMQ retries it, then keeps it failed)', async () => {
    const { p } = processor(new Set(['2']));
    await expect(p.process(job(event(2)))).rejects.toThrow('cannot fan out 2');
    await expect(p.process(job(event(1)))).resolves.toEqual({ event: resourceEventJobId(event(1)), handledBy: [], notified: [] });
  });

  it('fails the whole group when a failed event cannot be queued again, so that the group is retried', async () => {
    const { p } = processor(new Set(['1']), true);
    await expect(p.process(job({ events: [event(1), event(2)] }))).rejects.toThrow('Redis refused');
  });
});
