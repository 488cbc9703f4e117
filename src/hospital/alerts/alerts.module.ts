import { Module, type OnModuleInit } from '@nestjs/common';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { WriteRules } from '../../fhir/write/write-rules';
import { AlertLifecycleRule } from './alert-lifecycle.rule';
import { AlertsController } from './alerts.controller';
import { AlertsService } from './alerts.service';

/** Emergency alerts: their lifecycle on the write path, acknowledging, resolving, response times. */
@Module({
  imports: [FhirStoreModule],
  controllers: [AlertsController],
  providers: [AlertLifecycleRule, AlertsService],
})
export class AlertsModule implements OnModuleInit {
  constructor(
    private readonly rules: WriteRules,
    private readonly rule: AlertLifecycleRule,
  ) {}

  onModuleInit(): void {
    this.rules.add(this.rule);
  }
}
