import { Injectable } from '@nestjs/common';
import type { Extension, Observation, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { json, localRefId, toTimestamp } from '../../fhir/projection/mappers/mapper-utils';
import { observationTable, reading, type Reading } from '../../fhir/projection/mappers/observation.mapper';
import { INTERVENTION_SUGGESTED_URL } from '../../fhir/projection/mappers/wellness.mapper';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { STRESS_RULE_VERSION, TREND_READINGS, interventionDecision, stressScore } from './stress-intervention';

/** How many earlier readings are read to find the last scored ones (unscorable ones are skipped). */
const LOOKBACK = 20;

/**
 * Annotates every stress reading (an Observation the stress_data projection takes) with the
 * stress-intervention rule's decision, as a server-owned extension the projection copies onto
 * stress_data.intervention_suggested: the resource stays the truth, a client cannot set it (it is
 * recomputed), and the rule version that decided is recorded. Readings of one patient are decided
 * one at a time (advisory lock), so concurrent readings see each other for the trend.
 */
@Injectable()
export class StressInterventionRule implements WriteRule {
  readonly name = 'wellness:stress-intervention';
  readonly resourceTypes = ['Observation'] as const;

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
      .slice(0, TREND_READINGS - 1)
      .reverse();
    const decision = interventionDecision(stressScore(reading(obs)), previous);
    const ext: Extension = {
      url: INTERVENTION_SUGGESTED_URL,
      extension: [
        { url: 'suggested', valueBoolean: decision.suggested },
        { url: 'rule', valueString: STRESS_RULE_VERSION },
        ...(decision.reason ? [{ url: 'reason', valueString: decision.reason }] : []),
      ],
    };
    return withExtensions(obs, [...others, ext]);
  }
}

function withExtensions(obs: Observation, extension: Extension[]): Observation {
  const { extension: _old, ...rest } = obs;
  return (extension.length ? { ...rest, extension } : rest) as Observation;
}
