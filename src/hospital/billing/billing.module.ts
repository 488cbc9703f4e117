import { Module, type OnModuleInit } from '@nestjs/common';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { WriteRules } from '../../fhir/write/write-rules';
import { BillingController } from './billing.controller';
import { BillingService } from './billing.service';
import { ClaimCheckRule } from './claim-check.rule';
import { TxWrites } from '../pharmacy/tx-writes';

/** Billing: claims from encounters and the billing-error check on every Claim written. */
@Module({
  imports: [FhirStoreModule],
  controllers: [BillingController],
  providers: [TxWrites, ClaimCheckRule, BillingService],
})
export class BillingModule implements OnModuleInit {
  constructor(
    private readonly rules: WriteRules,
    private readonly check: ClaimCheckRule,
  ) {}

  onModuleInit(): void {
    this.rules.add(this.check);
  }
}
