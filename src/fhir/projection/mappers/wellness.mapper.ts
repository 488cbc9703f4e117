import type { CarePlan, Observation } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import { compact, localRefId, num, patientRef, requireId, str } from './mapper-utils';

/** The category that makes a CarePlan a wellness plan (wellness_plans). */
export const WELLNESS_CATEGORY = { system: 'urn:fhir-ai-server:care-plan', code: 'wellness' } as const;
/** Server-owned: the plan's progress 0..1 computed from its goals (valueDecimal). */
export const WELLNESS_PROGRESS_URL = 'https://fhir-ai-server.dev/StructureDefinition/wellness-progress';
/**
 * Server-owned, on a stress reading: whether it suggests an intervention (complex: `suggested`
 * valueBoolean, `rule` valueString naming the rule version, `reason` valueString).
 */
export const INTERVENTION_SUGGESTED_URL = 'https://fhir-ai-server.dev/StructureDefinition/intervention-suggested';

export function isWellnessPlan(cp: CarePlan | undefined): boolean {
  return !!cp?.category?.some((cc) => cc.coding?.some((c) => c.system === WELLNESS_CATEGORY.system && c.code === WELLNESS_CATEGORY.code));
}

/** Whether a stress reading suggests an intervention, as the server's rule annotated it; null when it could not be scored (unknown). */
export function interventionSuggestedOf(obs: Observation): boolean | null {
  const ext = obs.extension?.find((e) => e.url === INTERVENTION_SUGGESTED_URL);
  const suggested = ext?.extension?.find((e) => e.url === 'suggested');
  if (ext && !suggested) return null;
  return suggested?.valueBoolean === true;
}

export function progressOf(cp: CarePlan): number | null {
  const v = cp.extension?.find((e) => e.url === WELLNESS_PROGRESS_URL)?.valueDecimal;
  return typeof v === 'number' && v >= 0 && v <= 1 ? Math.round(v * 100) / 100 : null;
}

/**
 * A wellness plan (CarePlan with category urn:fhir-ai-server:care-plan#wellness) → wellness_plans:
 * plan_details its title and description, ai_generated when its author is a Device (a model),
 * progress from the server's progress extension (see src/hospital/wellness/wellness-progress.ts).
 */
export const carePlanMapper: ResourceMapper<CarePlan> = {
  resourceType: 'CarePlan',
  tables: ['wellness_plans'],
  toRows(cp: CarePlan): ProjectionRow[] {
    const patientId = localRefId(cp.subject, 'Patient');
    if (!patientId || !isWellnessPlan(cp) || cp.status === 'entered-in-error') return [];
    const details = [cp.title, cp.description].filter((s): s is string => !!s).join(': ');
    return [
      {
        table: 'wellness_plans',
        values: {
          patient_id: patientId,
          id: requireId(cp),
          plan_details: details || null,
          ai_generated: !!localRefId(cp.author, 'Device'),
          progress: progressOf(cp),
        },
      },
    ];
  },
  toResource(row: Record<string, unknown>): CarePlan {
    const progress = num(row.progress);
    return compact<CarePlan>({
      resourceType: 'CarePlan',
      id: String(row.id),
      extension: progress !== undefined ? [{ url: WELLNESS_PROGRESS_URL, valueDecimal: progress }] : undefined,
      status: 'active',
      intent: 'plan',
      category: [{ coding: [{ ...WELLNESS_CATEGORY }] }],
      subject: patientRef(row) as CarePlan['subject'],
      description: str(row.plan_details),
    });
  },
};
