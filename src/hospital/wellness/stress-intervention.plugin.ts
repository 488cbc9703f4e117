import type { Extension, Observation } from '@medplum/fhirtypes';
import type { RulePlugin } from '../../ai/ai-plugin';
import { numberParameter, ruleModelExtension } from '../../ai/rules/rule-outputs';
import { localRefId } from '../../fhir/projection/mappers/mapper-utils';
import { observationTable, reading, type Reading } from '../../fhir/projection/mappers/observation.mapper';
import { INTERVENTION_SUGGESTED_URL } from '../../fhir/projection/mappers/wellness.mapper';
import { HIGH_STRESS, TREND_MIN_RISE, TREND_READINGS, interventionDecision, stressScore, unscoredReason, type InterventionDecision } from './stress-intervention';

/** What the write rule gathers for a stress reading: the reading as written, and the patient's earlier readings, newest first (as stress_data keeps them). */
export interface StressInput {
  observation: Observation;
  earlier: ReadonlyArray<Reading | undefined>;
}

/** The reading's score and the earlier scored readings' scores, oldest first (stress-intervention.ts). */
export interface StressPrepared {
  score: number | undefined;
  previous: readonly number[];
}

/**
 * Stress intervention (task stress-intervention; versions in ai_models, the built-in
 * `stress-intervention/1`): every stress reading (an Observation the stress_data projection takes)
 * is annotated with the rule's decision as a server-owned extension (suggested, rule label, reason,
 * `model`: the version's Device), which the projection copies onto stress_data.intervention_suggested.
 */
export const STRESS_INTERVENTION_PLUGIN: RulePlugin<StressInput, StressPrepared, InterventionDecision, Observation> = {
  task: 'stress-intervention',
  // In-write: the reading is stored with its decision (stress_data.intervention_suggested from its first version, and a
  // client cannot set it); readings of one patient are decided one at a time, so each sees the ones before it.
  runs: 'in-write',
  resourceTypes: ['Observation'],
  triggers: (_event, resource) => observationTable(resource as Observation) === 'stress_data' && !!localRefId((resource as Observation).subject, 'Patient'),
  engine: {
    kind: 'rule',
    evaluate: (rule, { score, previous }) =>
      interventionDecision(score, previous, {
        highStress: numberParameter(rule, 'highStress', HIGH_STRESS),
        trendReadings: numberParameter(rule, 'trendReadings', TREND_READINGS),
        trendMinRise: numberParameter(rule, 'trendMinRise', TREND_MIN_RISE),
      }),
    scored: (decision, { score }) => ({ score: score ?? null, label: decision.unscored ? 'not-scored' : decision.suggested ? 'suggested' : 'not-suggested' }),
  },
  prepare: (_rule, { observation, earlier }) => ({
    score: stressScore(reading(observation)),
    previous: earlier
      .map((r) => (r ? stressScore(r) : undefined))
      .filter((s): s is number => s !== undefined)
      .reverse(),
  }),
  outputs: (rule, { observation }, _prepared, decision) => {
    const others = (observation.extension ?? []).filter((e) => e.url !== INTERVENTION_SUGGESTED_URL);
    // An unscored reading carries no `suggested` at all (stress_data.intervention_suggested NULL: unknown), only why.
    const reason = decision.unscored ? unscoredReason(reading(observation)) : decision.reason;
    const ext: Extension = {
      url: INTERVENTION_SUGGESTED_URL,
      extension: [
        ...(decision.unscored ? [] : [{ url: 'suggested', valueBoolean: decision.suggested }]),
        { url: 'rule', valueString: rule.manifest.label },
        ...(reason ? [{ url: 'reason', valueString: reason }] : []),
        ruleModelExtension(rule),
      ],
    };
    return withExtensions(observation, [...others, ext]);
  },
};

/** The Observation with exactly these extensions (none: without the element). Pure. */
export function withExtensions(obs: Observation, extension: Extension[]): Observation {
  const { extension: _old, ...rest } = obs;
  return (extension.length ? { ...rest, extension } : rest) as Observation;
}
