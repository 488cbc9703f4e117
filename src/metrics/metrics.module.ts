import { Global, Module, type DynamicModule } from '@nestjs/common';
import { Metrics, type ProcessRole } from './metrics';

/** One Metrics per process, available everywhere (the API and the worker each import this once). */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(role: ProcessRole): DynamicModule {
    return { module: MetricsModule, providers: [{ provide: Metrics, useValue: new Metrics(role) }], exports: [Metrics] };
  }
}
