import { Module, type OnModuleInit } from '@nestjs/common';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { WriteRules } from '../../fhir/write/write-rules';
import { AdherenceEventRule } from './adherence-event.rule';
import { AdherenceService } from './adherence.service';
import { BatchLoader } from './batch-loader';
import { DispenseRule } from './dispense.rule';
import { InventoryRepository } from './inventory.repository';
import { MedicationStockRule } from './medication.rule';
import { PharmacyController } from './pharmacy.controller';
import { PharmacyService } from './pharmacy.service';
import { PrescriptionRule } from './prescription.rule';
import { TxWrites } from './tx-writes';

/** Pharmacy: stock and expiry checks on prescriptions and dispenses, reorder alerts, adherence. */
@Module({
  imports: [FhirStoreModule],
  controllers: [PharmacyController],
  providers: [TxWrites, InventoryRepository, BatchLoader, AdherenceService, PrescriptionRule, DispenseRule, MedicationStockRule, AdherenceEventRule, PharmacyService],
})
export class PharmacyModule implements OnModuleInit {
  constructor(
    private readonly rules: WriteRules,
    private readonly prescription: PrescriptionRule,
    private readonly dispense: DispenseRule,
    private readonly medication: MedicationStockRule,
    private readonly adherence: AdherenceEventRule,
  ) {}

  onModuleInit(): void {
    for (const rule of [this.prescription, this.dispense, this.medication, this.adherence]) this.rules.add(rule);
  }
}
