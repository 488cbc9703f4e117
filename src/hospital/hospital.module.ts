import { Module, type OnModuleInit } from '@nestjs/common';
import { BedsModule } from './beds/beds.module';
import { SchedulingModule } from './scheduling/scheduling.module';
import { BillingModule } from './billing/billing.module';
import { PharmacyModule } from './pharmacy/pharmacy.module';
import { AlertsModule } from './alerts/alerts.module';
import { WellnessModule } from './wellness/wellness.module';
import { EquipmentModule } from './equipment/equipment.module';
import { MonitoringModule } from './monitoring/monitoring.module';
import { AiPluginsModule } from '../ai/plugins/plugins.module';
import { PluginCatalogue } from '../ai/plugins/catalogue';
import { HOSPITAL_PLUGINS } from './hospital-plugins';

/**
 * The hospital modules (scheduling, beds, pharmacy, billing...): their rules on the one write path
 * and their services. Imported by the API and by the workers, so that every writer obeys the
 * same rules. Their AI behaviours are plugins (hospital-plugins.ts), added to the plugin catalogue.
 */
@Module({
  imports: [AiPluginsModule, PharmacyModule, BillingModule, SchedulingModule, BedsModule, AlertsModule, WellnessModule, EquipmentModule, MonitoringModule],
})
export class HospitalModule implements OnModuleInit {
  constructor(private readonly catalogue: PluginCatalogue) {}

  onModuleInit(): void {
    this.catalogue.add(...HOSPITAL_PLUGINS);
  }
}
