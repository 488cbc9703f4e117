import { Module, type OnModuleInit } from '@nestjs/common';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { WriteRules } from '../../fhir/write/write-rules';
import { BedAllocationRule } from './bed-allocation.rule';
import { BedsController } from './beds.controller';
import { BedsRepository } from './beds.repository';
import { BedsService } from './beds.service';

/** Beds: one patient per bed and one bed per patient, occupancy over time and its forecast. */
@Module({
  imports: [FhirStoreModule],
  controllers: [BedsController],
  providers: [BedsRepository, BedAllocationRule, BedsService],
})
export class BedsModule implements OnModuleInit {
  constructor(
    private readonly rules: WriteRules,
    private readonly rule: BedAllocationRule,
  ) {}

  onModuleInit(): void {
    this.rules.add(this.rule);
  }
}
