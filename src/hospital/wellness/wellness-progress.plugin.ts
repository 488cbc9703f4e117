import type { CarePlan, Goal, GoalTarget, Resource } from '@medplum/fhirtypes';
import type { RulePlugin } from '../../ai/ai-plugin';
import { numberParameter, ruleReference } from '../../ai/rules/rule-outputs';
import { localRefId } from '../../fhir/projection/mappers/mapper-utils';
import { WELLNESS_PROGRESS_URL, isWellnessPlan } from '../../fhir/projection/mappers/wellness.mapper';
import { IMPROVING_SCORE, WELLNESS_PROGRESS_IGNORED_URL, WELLNESS_PROGRESS_MODEL_URL, goalScore, planProgress, type Measurement, type PlanGoals } from './wellness-progress';

/** The plan's extensions the server writes (a client's are replaced). */
export const SERVER_OWNED: readonly string[] = [WELLNESS_PROGRESS_URL, WELLNESS_PROGRESS_MODEL_URL, WELLNESS_PROGRESS_IGNORED_URL];

/** What the service gathers for a wellness plan: the plan, its goals (of its patient) and each target's measurements. */
export interface WellnessProgressInput {
  plan: CarePlan;
  goals: readonly Goal[];
  measurementsOf: (t: GoalTarget) => readonly Measurement[];
  /** Readings left out, and why (a unit that cannot be converted to the target's): said on the plan. */
  ignored?: readonly string[];
}

/**
 * Wellness plan progress (task wellness-progress; versions in ai_models, the built-in
 * `wellness-progress/1`): a wellness CarePlan carries its progress from its goals
 * (wellness-progress.ts) in a server-owned extension, projected onto wellness_plans.progress, with
 * the version that computed it (its Device) beside it; no goal counting: no progress.
 */
export const WELLNESS_PROGRESS_PLUGIN: RulePlugin<WellnessProgressInput, PlanGoals, number | undefined, CarePlan> = {
  task: 'wellness-progress',
  // In-write: the plan is stored with its progress, and rewritten (a new version, through the write path) in the same
  // transaction as a Goal of it or an Observation of a goal's target measure, so the column never lags the goals.
  runs: 'in-write',
  resourceTypes: ['CarePlan', 'Goal', 'Observation'],
  triggers: (_event, resource: Resource) =>
    resource.resourceType === 'CarePlan' ? isWellnessPlan(resource as CarePlan) : !!localRefId((resource as Goal).subject, 'Patient'),
  engine: {
    kind: 'rule',
    evaluate: (rule, { goals, measurementsOf }) => planProgress(goals.map((g) => goalScore(g, measurementsOf, numberParameter(rule, 'improvingScore', IMPROVING_SCORE)))),
    scored: (progress) => ({ score: progress ?? null, label: null }),
  },
  prepare: (_rule, { goals, measurementsOf }) => ({ goals, measurementsOf }),
  outputs: (rule, { plan, ignored = [] }, _prepared, progress) => {
    const others = (plan.extension ?? []).filter((e) => !SERVER_OWNED.includes(e.url));
    const extension = [
      ...others,
      ...(progress === undefined ? [] : [{ url: WELLNESS_PROGRESS_URL, valueDecimal: progress }, { url: WELLNESS_PROGRESS_MODEL_URL, valueReference: ruleReference(rule) }]),
      ...ignored.map((why) => ({ url: WELLNESS_PROGRESS_IGNORED_URL, valueString: why })),
    ];
    const { extension: _old, ...rest } = plan;
    return (extension.length ? { ...rest, extension } : rest) as CarePlan;
  },
};
