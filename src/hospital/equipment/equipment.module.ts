import { Module, type OnModuleInit } from '@nestjs/common';
import { FhirStoreModule } from '../../fhir/fhir-store.module';
import { WriteRules } from '../../fhir/write/write-rules';
import { DeviceMaintenanceRule } from './device-maintenance.rule';
import { DeviceUsageRule } from './device-usage.rule';
import { EquipmentController } from './equipment.controller';
import { EquipmentRepository } from './equipment.repository';
import { EquipmentService } from './equipment.service';
import { MaintenanceService } from './maintenance.service';

/** Equipment and staff: availability in a window, predictive maintenance of devices from their usage. */
@Module({
  imports: [FhirStoreModule],
  controllers: [EquipmentController],
  providers: [MaintenanceService, DeviceMaintenanceRule, DeviceUsageRule, EquipmentRepository, EquipmentService],
})
export class EquipmentModule implements OnModuleInit {
  constructor(
    private readonly rules: WriteRules,
    private readonly device: DeviceMaintenanceRule,
    private readonly usage: DeviceUsageRule,
  ) {}

  onModuleInit(): void {
    for (const rule of [this.device, this.usage]) this.rules.add(rule);
  }
}
