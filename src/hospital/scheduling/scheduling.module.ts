import { Module, type OnModuleInit } from '@nestjs/common';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { WriteRules } from '../../fhir/write/write-rules';
import { SchedulingController } from './scheduling.controller';
import { SchedulingRepository } from './scheduling.repository';
import { SchedulingRule } from './scheduling.rule';

/** Scheduling: no double-booked doctors or resources, the nearest free slot, Slots busy while booked. */
@Module({
  imports: [FhirStoreModule],
  controllers: [SchedulingController],
  providers: [SchedulingRepository, SchedulingRule],
})
export class SchedulingModule implements OnModuleInit {
  constructor(
    private readonly rules: WriteRules,
    private readonly rule: SchedulingRule,
  ) {}

  onModuleInit(): void {
    this.rules.add(this.rule);
  }
}
