import { Module, type OnModuleInit } from '@nestjs/common';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { WriteRules } from '../../fhir/write/write-rules';
import { StressInterventionRule } from './stress-intervention.rule';
import { WellnessProgressRule } from './wellness-progress.rule';
import { WellnessProgressService } from './wellness-progress.service';

/** Mental health and wellness: stress readings that suggest an intervention, wellness plans' progress. */
@Module({
  imports: [FhirStoreModule],
  providers: [StressInterventionRule, WellnessProgressService, WellnessProgressRule],
})
export class WellnessModule implements OnModuleInit {
  constructor(
    private readonly rules: WriteRules,
    private readonly stress: StressInterventionRule,
    private readonly progress: WellnessProgressRule,
  ) {}

  onModuleInit(): void {
    this.rules.add(this.stress);
    this.rules.add(this.progress);
  }
}
