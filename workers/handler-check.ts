import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { QUEUES } from '../src/queue/queues';

const PROCESSOR_METADATA = 'bullmq:processor_metadata';

/** Start-up fails when a queue has no processor (a job would wait forever) or has two. */
@Injectable()
export class HandlerCheck implements OnModuleInit {
  constructor(private readonly discovery: DiscoveryService) {}

  onModuleInit(): void {
    const handled = this.discovery
      .getProviders()
      .map((w) => (w.metatype ? (Reflect.getMetadata(PROCESSOR_METADATA, w.metatype) as { name?: string } | undefined)?.name : undefined))
      .filter((n): n is string => !!n);
    for (const queue of Object.values(QUEUES)) {
      const count = handled.filter((n) => n === queue).length;
      if (count !== 1) throw new Error(`Queue "${queue}" has ${count} processors; it needs exactly one`);
    }
  }
}
