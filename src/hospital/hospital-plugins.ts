import type { AnyAiPlugin } from '../ai/ai-plugin';
import { OCCUPANCY_FORECAST_PLUGIN } from './beds/occupancy-forecast.plugin';
import { BILLING_ERROR_PLUGIN } from './billing/billing-error.plugin';
import { PREDICTIVE_MAINTENANCE_PLUGIN } from './equipment/predictive-maintenance.plugin';
import { STRESS_INTERVENTION_PLUGIN } from './wellness/stress-intervention.plugin';
import { WELLNESS_PROGRESS_PLUGIN } from './wellness/wellness-progress.plugin';

/** The hospital modules' AI behaviours: plugins whose versions are rules (ai_models, kind `rule`), run in-write or on request. */
export const HOSPITAL_PLUGINS: readonly AnyAiPlugin[] = [BILLING_ERROR_PLUGIN, STRESS_INTERVENTION_PLUGIN, WELLNESS_PROGRESS_PLUGIN, OCCUPANCY_FORECAST_PLUGIN, PREDICTIVE_MAINTENANCE_PLUGIN];
