import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { BullRegistrar } from '@nestjs/bullmq';
import { ModelRegistry } from '../src/ai/model-registry.service';

/**
 * Starts the BullMQ processors (registered manually: see WorkerModule) only once the built-in
 * models are registered. Before that, on a fresh database, a resource event would find no active
 * model, fan out to nothing, and complete: its AI job would be lost for good.
 */
@Injectable()
export class ProcessorStart implements OnApplicationBootstrap {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly registrar: BullRegistrar,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.registry.seeded;
    this.registrar.register();
  }
}
