import type { Observation } from '@medplum/fhirtypes';
import { builtInRule, type RuleDefinition } from '../../ai/rules/rule-catalog';
import { activeRuleOf } from '../../ai/rules/rule-registry.service';
import { INTERVENTION_SUGGESTED_URL } from '../../fhir/projection/mappers/wellness.mapper';
import { STRESS_INTERVENTION_PLUGIN, type StressInput } from './stress-intervention.plugin';

const plugin = STRESS_INTERVENTION_PLUGIN;
const rule = activeRuleOf(builtInRule('stress-intervention'));
const pss = (value: number) => ({ system: 'http://loinc.org', code: '106860-0', type: 'integer', value });

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const reading = (value: number, extra: Partial<Observation> = {}): Observation => ({
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '106860-0' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2026-11-27T08:00:00Z',
  valueInteger: value,
  ...extra,
});

describe('the stress intervention plugin: prepare, engine and outputs are pure', () => {
  // Earlier readings newest first, as the write rule reads them from stress_data; one unscorable.
  const input: StressInput = deepFreeze({ observation: reading(24), earlier: [pss(20), undefined, pss(16)] });

  it('gives the same answer for the same input, and changes nothing it is given (deep-frozen)', () => {
    const prepared = plugin.prepare(rule, input);
    expect(prepared).toEqual({ score: 0.6, previous: [0.4, 0.5] });
    expect(plugin.prepare(rule, input)).toEqual(prepared);

    const decision = plugin.engine.evaluate(rule.definition, deepFreeze(prepared));
    expect(decision).toEqual({ suggested: true, reason: 'rising stress over 3 readings: 0.4 → 0.5 → 0.6' });
    expect(plugin.engine.evaluate(rule.definition, prepared)).toEqual(decision);
    expect(plugin.engine.scored(decision, prepared)).toEqual({ score: 0.6, label: 'suggested' });

    const stored = plugin.outputs(rule, input, prepared, deepFreeze(decision));
    expect(plugin.outputs(rule, input, prepared, decision)).toEqual(stored);
    expect(stored.extension).toEqual([
      {
        url: INTERVENTION_SUGGESTED_URL,
        extension: [
          { url: 'suggested', valueBoolean: true },
          { url: 'rule', valueString: 'stress-intervention/1' },
          { url: 'reason', valueString: 'rising stress over 3 readings: 0.4 → 0.5 → 0.6' },
          { url: 'model', valueReference: { reference: 'Device/stress-intervention-1.0.0', display: 'stress-intervention 1.0.0' } },
        ],
      },
    ]);
    expect(input.observation.extension).toBeUndefined();
  });

  it('replaces a decision a client sent; another version decides by its own parameters', () => {
    const sent = reading(24, { extension: [{ url: INTERVENTION_SUGGESTED_URL, extension: [{ url: 'suggested', valueBoolean: false }] }] });
    const stricter: RuleDefinition = { ...rule.definition, version: '9.0.0', parameters: { ...rule.definition.parameters, highStress: 0.55 } };
    const alone = { observation: sent, earlier: [] };
    const v9 = activeRuleOf(stricter);
    const decision = plugin.engine.evaluate(stricter, plugin.prepare(v9, alone));
    expect(decision).toEqual({ suggested: true, reason: 'high stress: 0.6 ≥ 0.55' });
    const stored = plugin.outputs(v9, alone, plugin.prepare(v9, alone), decision);
    expect(stored.extension).toHaveLength(1);
    expect(stored.extension![0].extension!.at(-1)).toEqual({ url: 'model', valueReference: { reference: 'Device/stress-intervention-9.0.0', display: 'stress-intervention 9.0.0' } });
  });

  it('marks a reading it cannot score as not scored, with why, and no suggested value', () => {
    const odd = { observation: reading(55), earlier: [] };
    const prepared = plugin.prepare(rule, odd);
    expect(prepared.score).toBeUndefined();
    const decision = plugin.engine.evaluate(rule.definition, prepared);
    expect(decision).toEqual({ suggested: false, unscored: true });
    expect(plugin.engine.scored(decision, prepared)).toEqual({ score: null, label: 'not-scored' });
    const ext = plugin.outputs(rule, odd, prepared, decision).extension![0].extension!;
    expect(ext.map((e) => e.url)).toEqual(['rule', 'reason', 'model']);
    expect(ext[1].valueString).toBe('not scored: 55 is not a PSS-10 total of 0..40');
  });

  it('is triggered by a patient\'s stress reading only', () => {
    const event = { action: 'create' as const, resourceType: 'Observation', resourceId: 'o1', versionId: 1, patientId: 'p1' };
    expect(plugin.triggers(event, reading(24))).toBe(true);
    expect(plugin.triggers(event, reading(24, { subject: undefined }))).toBe(false);
    expect(plugin.triggers(event, reading(24, { code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } }))).toBe(false);
  });
});
