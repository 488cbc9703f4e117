import { Module } from '@nestjs/common';
import { BedsModule } from './beds/beds.module';
import { SchedulingModule } from './scheduling/scheduling.module';
import { BillingModule } from './billing/billing.module';
import { PharmacyModule } from './pharmacy/pharmacy.module';
import { AlertsModule } from './alerts/alerts.module';
import { WellnessModule } from './wellness/wellness.module';
import { EquipmentModule } from './equipment/equipment.module';
import { MonitoringModule } from './monitoring/monitoring.module';
import { RulesModule } from '../ai/rules/rules.module';

/**
 * The hospital modules (scheduling, beds, pharmacy, billing...): their rules on the one write path
 * and their services. Imported by the API and by the workers, so that every writer obeys the
 * same rules.
 */
@Module({
  imports: [RulesModule, PharmacyModule, BillingModule, SchedulingModule, BedsModule, AlertsModule, WellnessModule, EquipmentModule, MonitoringModule],
})
export class HospitalModule {}
