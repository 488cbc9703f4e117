import { Injectable } from '@nestjs/common';
import type { Extension, Observation, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { json, localRefId, toTimestamp } from '../../fhir/projection/mappers/mapper-utils';
import { observationTable, reading, type Reading } from '../../fhir/projection/mappers/observation.mapper';
import { INTERVENTION_SUGGESTED_URL } from '../../fhir/projection/mappers/wellness.mapper';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { ruleModelExtension } from '../../ai/rules/rule-behaviour';
import { RuleRegistry } from '../../ai/rules/rule-registry.service';
import { STRESS_INTERVENTION, stressScore } from './stress-intervention';

/** How many earlier readings are read to find the last scored ones (unscorable ones are skipped). */
const LOOKBACK = 20;

/**
 * Annotates every stress reading (an Observation the stress_data projection takes) with the
 * stress-intervention rule's decision, as a server-owned extension the projection copies onto
 * stress_data.intervention_suggested: the resource stays the truth, a client cannot set it (it is
 * recomputed), and the rule version that decided is recorded. Readings of one patient are decided
 * one at a time (advisory lock), so concurrent readings see each other for the trend. The rule's
 * version is the active one in ai_models (task stress-intervention); the decision names it (its
 * Device, sub-extension `model`).
 */
@Injectable()
export class StressInterventionRule implements WriteRule {
  readonly name = 'wellness:stress-intervention';
  readonly resourceTypes = STRESS_INTERVENTION.triggers;

  constructor(private readonly rules: RuleRegistry) {}

  async beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<Resource | void> {
    const obs = resource as Observation;
    const patientId = localRefId(obs.subject, 'Patient');
    const others = (obs.extension ?? []).filter((e) => e.url !== INTERVENTION_SUGGESTED_URL);
    if (observationTable(obs) !== 'stress_data' || !patientId) {
      // Not a stress reading (any more): no decision to carry.
      return others.length !== (obs.extension ?? []).length ? withExtensions(obs, others) : undefined;
    }
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`stress:${patientId}`]);
    await ctx.flush();
    const at = toTimestamp(obs.effectiveDateTime ?? obs.effectivePeriod?.start ?? obs.effectiveInstant ?? obs.issued);
    const rows = await tx.query<{ readings: unknown }>(
      `SELECT readings FROM stress_data WHERE patient_id = ? AND id <> ?${at ? ' AND timestamp < ?' : ''} ORDER BY timestamp DESC NULLS LAST LIMIT ${LOOKBACK}`,
      at ? [patientId, obs.id, at] : [patientId, obs.id],
    );
    const previous = rows
      .map((r) => json<Reading>(r.readings))
      .map((r) => (r ? stressScore(r) : undefined))
      .filter((s): s is number => s !== undefined)
      .reverse();
    const score = stressScore(reading(obs));
    // The active version decides (counted per version in ai_predictions); shadow versions run beside it, never shown.
    const { rule, output: decision } = await this.rules.run(
      tx,
      STRESS_INTERVENTION,
      { score, previous },
      { input: { ref: `Observation/${obs.id}`, versionId: Number(ctx.previous?.meta?.versionId ?? 0) + 1 }, patientId, outputRef: `Observation/${obs.id}` },
      (d) => ({ score: score ?? null, label: d.suggested ? 'suggested' : 'not-suggested' }),
    );
    const ext: Extension = {
      url: INTERVENTION_SUGGESTED_URL,
      extension: [
        { url: 'suggested', valueBoolean: decision.suggested },
        { url: 'rule', valueString: rule.manifest.label },
        ...(decision.reason ? [{ url: 'reason', valueString: decision.reason }] : []),
        ruleModelExtension(rule),
      ],
    };
    return withExtensions(obs, [...others, ext]);
  }
}

function withExtensions(obs: Observation, extension: Extension[]): Observation {
  const { extension: _old, ...rest } = obs;
  return (extension.length ? { ...rest, extension } : rest) as Observation;
}
