import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { WorkerHost } from '@nestjs/bullmq';
import type { Worker } from 'bullmq';

/**
 * Closes every BullMQ worker (letting running jobs finish and be acknowledged) before anything
 * closes the Redis connection they share. Nest runs the modules' shutdown hooks in an order that
 * may close the connection first; a closing BullMQ worker whose connection is gone then retries
 * acknowledging its job in a tight loop, for ever.
 */
@Injectable()
export class ProcessorStop implements BeforeApplicationShutdown {
  constructor(private readonly discovery: DiscoveryService) {}

  async beforeApplicationShutdown(): Promise<void> {
    const workers: Worker[] = [];
    for (const wrapper of this.discovery.getProviders()) {
      if (!(wrapper.instance instanceof WorkerHost)) continue;
      try {
        workers.push(wrapper.instance.worker);
      } catch {
        // never started (the process is stopping before the models were registered)
      }
    }
    await Promise.all(workers.map((w) => w.close()));
  }
}
