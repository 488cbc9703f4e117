import { Injectable } from '@nestjs/common';
import type { Observation, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { json, localRefId, toTimestamp } from '../../fhir/projection/mappers/mapper-utils';
import type { Reading } from '../../fhir/projection/mappers/observation.mapper';
import { INTERVENTION_SUGGESTED_URL } from '../../fhir/projection/mappers/wellness.mapper';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { writeTrigger } from '../../ai/ai-plugin';
import { PluginCore } from '../../ai/plugins/plugin-core';
import { STRESS_INTERVENTION_PLUGIN, withExtensions } from './stress-intervention.plugin';

/** How many earlier readings are read to find the last scored ones (unscorable ones are skipped). */
const LOOKBACK = 20;

/**
 * Runs the stress intervention plugin (stress-intervention.plugin.ts) on every stress reading
 * written, inside its write transaction, and stores the reading as the plugin annotates it: the
 * resource stays the truth, a client cannot set the decision (it is recomputed), and the rule
 * version that decided is recorded. Readings of one patient are decided one at a time (advisory
 * lock), so concurrent readings see each other for the trend.
 */
@Injectable()
export class StressInterventionRule implements WriteRule {
  readonly name = 'wellness:stress-intervention';
  readonly resourceTypes = STRESS_INTERVENTION_PLUGIN.resourceTypes;

  constructor(private readonly plugins: PluginCore) {}

  async beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<Resource | void> {
    const obs = resource as Observation;
    const patientId = localRefId(obs.subject, 'Patient');
    if (!patientId || !(await STRESS_INTERVENTION_PLUGIN.triggers(writeTrigger(obs, ctx.previous, patientId), obs))) {
      // Not a stress reading (any more): no decision to carry.
      const others = (obs.extension ?? []).filter((e) => e.url !== INTERVENTION_SUGGESTED_URL);
      return others.length !== (obs.extension ?? []).length ? withExtensions(obs, others) : undefined;
    }
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`stress:${patientId}`]);
    await ctx.flush();
    const at = toTimestamp(obs.effectiveDateTime ?? obs.effectivePeriod?.start ?? obs.effectiveInstant ?? obs.issued);
    const rows = await tx.query<{ readings: unknown }>(
      `SELECT readings FROM stress_data WHERE patient_id = ? AND id <> ?${at ? ' AND timestamp < ?' : ''} ORDER BY timestamp DESC NULLS LAST LIMIT ${LOOKBACK}`,
      at ? [patientId, obs.id, at] : [patientId, obs.id],
    );
    // The active version decides (counted per version in ai_predictions); shadow versions run beside it, never shown.
    const { output } = await this.plugins.inTransaction(
      tx,
      STRESS_INTERVENTION_PLUGIN,
      { observation: obs, earlier: rows.map((r) => json<Reading>(r.readings)) },
      { input: { ref: `Observation/${obs.id}`, versionId: Number(ctx.previous?.meta?.versionId ?? 0) + 1 }, patientId, outputRef: `Observation/${obs.id}` },
    );
    return output;
  }
}
