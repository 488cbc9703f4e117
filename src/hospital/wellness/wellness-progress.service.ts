import { Injectable } from '@nestjs/common';
import type { CarePlan, CodeableConcept, Goal, GoalTarget, Observation } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { localRefId } from '../../fhir/projection/mappers/mapper-utils';
import { isWellnessPlan } from '../../fhir/projection/mappers/wellness.mapper';
import { ResourceStore } from '../../fhir/store/resource-store.repository';
import { ResourceWriteService, prepare } from '../../fhir/write/resource-write.service';
import { PluginCore } from '../../ai/plugins/plugin-core';
import { convert } from '../../ai/features/tabular.features';
import { targetUnit, type Measurement } from './wellness-progress';
import { WELLNESS_PROGRESS_PLUGIN } from './wellness-progress.plugin';

const NOT_MEASURED = new Set(['entered-in-error', 'cancelled', 'registered']);

/** A measured value of an Observation (its Quantity or integer value, its unit, and when), if it has one. */
export function measurementOf(obs: Observation): Measurement | undefined {
  if (NOT_MEASURED.has(obs.status)) return undefined;
  const value = obs.valueQuantity?.value ?? obs.valueInteger;
  const unit = obs.valueQuantity ? (obs.valueQuantity.code ?? obs.valueQuantity.unit) : undefined;
  const at = obs.effectiveDateTime ?? obs.effectivePeriod?.start ?? obs.effectiveInstant ?? obs.issued;
  return typeof value === 'number' && at ? { value, at, ...(unit ? { unit } : {}) } : undefined;
}

/**
 * The measurement in the target's unit (UCUM conversion of the anomaly features, tabular.features
 * `convert`), or why it cannot be used. A measurement or target without a unit is taken as it is.
 */
export function inTargetUnit(m: Measurement, unit: string | undefined): Measurement | { ignored: string } {
  if (!unit || !m.unit || m.unit === unit) return m;
  const value = convert(m.value, m.unit, unit);
  return value === undefined ? { ignored: `unit "${m.unit}" cannot be converted to "${unit}"` } : { ...m, value, unit };
}

export function sameCode(a: CodeableConcept | undefined, b: CodeableConcept | undefined): boolean {
  return !!a?.coding?.some((x) => b?.coding?.some((y) => x.system === y.system && x.code === y.code));
}

/** What this transaction is writing that is not stored yet: it replaces the stored version. */
export interface Pending {
  goal?: Goal;
  observation?: Observation;
}

/**
 * wellness_plans.progress: a wellness CarePlan carries its progress in a server-owned extension,
 * projected onto the column, from the wellness progress plugin (wellness-progress.plugin.ts), run
 * here with what it needs. It is computed when the plan is written, and
 * recomputed — by writing the plan through the write path — when one of its Goals changes or an
 * Observation of one of its goals' target measures is recorded for the patient.
 */
@Injectable()
export class WellnessProgressService {
  /** Plans this service is itself writing, per transaction: their progress is already computed. */
  private readonly ownWrites = new WeakMap<Tx, Set<string>>();
  /** The stored goals with a target measure, per transaction and patient. */
  private readonly goalsByTx = new WeakMap<Tx, Map<string, Goal[]>>();
  private readonly goalWrites = new WeakSet<Tx>();

  constructor(
    private readonly store: ResourceStore,
    private readonly writer: ResourceWriteService,
    private readonly plugins: PluginCore,
  ) {}

  isOwnWrite(tx: Tx, id: string): boolean {
    return this.ownWrites.get(tx)?.has(id) ?? false;
  }

  /** The plan with its progress extension set from its goals now (removed when no goal counts). */
  async withProgress(tx: Tx, plan: CarePlan, pending: Pending = {}): Promise<CarePlan> {
    const patientId = localRefId(plan.subject, 'Patient');
    const goalIds = (plan.goal ?? []).map((g) => localRefId(g, 'Goal')).filter((id): id is string => !!id);
    const stored = await this.store.readCurrentMany(goalIds.filter((id) => id !== pending.goal?.id).map((id) => ({ resourceType: 'Goal', id })), tx);
    const goals = goalIds
      .map((id) => (id === pending.goal?.id ? pending.goal : parse<Goal>(stored.get(`Goal/${id}`)?.json)))
      .filter((g): g is Goal => !!g && localRefId(g.subject, 'Patient') === patientId);
    const byTarget = new Map<GoalTarget, Measurement[]>();
    // Readings left out, one line per goal and reason with how many and one of them (a wearable in an
    // unconvertible unit would otherwise add one extension per reading to every new version).
    const ignoredBy = new Map<string, { count: number; latest: string }>();
    for (const goal of goals) {
      for (const t of goal.target ?? []) {
        if (!t.measure || !patientId) continue;
        const usable: Measurement[] = [];
        for (const [ref, m] of await this.measurements(tx, patientId, t.measure, pending.observation)) {
          const converted = inTargetUnit(m, targetUnit(t));
          if ('ignored' in converted) {
            const key = `Goal/${goal.id}: ${converted.ignored}`;
            ignoredBy.set(key, { count: (ignoredBy.get(key)?.count ?? 0) + 1, latest: ref });
          } else usable.push(converted);
        }
        byTarget.set(t, usable);
      }
    }
    const ignored = [...ignoredBy].map(([why, { count, latest }]) => `${count} reading${count === 1 ? '' : 's'} not counted for ${why} (${latest} among them)`);
    // The active version of the rule (ai_models) computes it; the progress names it beside the value.
    const { output } = await this.plugins.inTransaction(
      tx,
      WELLNESS_PROGRESS_PLUGIN,
      { plan, goals, measurementsOf: (t) => byTarget.get(t) ?? [], ignored },
      { input: { ref: `CarePlan/${plan.id}` }, at: new Date().toISOString(), patientId: patientId ?? null, outputRef: `CarePlan/${plan.id}` },
    );
    return output;
  }

  /** Recomputes (and writes, when it changed) the patient's wellness plans that list one of these goals. */
  async refreshPlansOf(tx: Tx, patientId: string, goalIds: string[], pending: Pending): Promise<void> {
    if (!goalIds.length) return;
    const rows = await tx.query<{ resource_id: string }>(
      `SELECT DISTINCT resource_id FROM search_reference
        WHERE patient_id = ? AND resource_type = 'CarePlan' AND code = 'goal' AND target_type = 'Goal' AND target_id = ANY(?::text[]) ORDER BY resource_id`,
      [patientId, goalIds],
    );
    for (const { resource_id: id } of rows) {
      const current = await this.writer.currentOf(tx, 'CarePlan', id);
      const plan = parse<CarePlan>(current && !current.deleted ? current.json : null);
      if (!plan || !isWellnessPlan(plan)) continue;
      const updated = await this.withProgress(tx, plan, pending);
      if (JSON.stringify(updated.extension ?? null) === JSON.stringify(plan.extension ?? null)) continue;
      const own = this.ownWrites.get(tx) ?? new Set<string>();
      own.add(id);
      this.ownWrites.set(tx, own);
      await this.writer.updateInTx(tx, prepare(updated, 'CarePlan', id), {});
    }
  }

  /** A Goal is being written in this transaction: the goals read for its Observations are stale. */
  forgetGoals(tx: Tx): void {
    this.goalsByTx.delete(tx);
    this.goalWrites.add(tx);
  }

  /** Whether a Goal was written in this transaction since its goals were last read (then: flush first). */
  goalsPending(tx: Tx): boolean {
    return this.goalWrites.has(tx);
  }

  /**
   * The patient's goals that measure with this code (stored ones; for an Observation's write).
   * Cached per transaction and patient, so a bundle of one patient's readings reads them once.
   */
  async goalsMeasuring(tx: Tx, patientId: string, code: CodeableConcept | undefined): Promise<string[]> {
    if (!code?.coding?.length) return [];
    const goals = await this.goalsWithMeasures(tx, patientId);
    return goals.filter((g) => (g.target ?? []).some((t) => sameCode(t.measure, code))).map((g) => g.id as string);
  }

  private async goalsWithMeasures(tx: Tx, patientId: string): Promise<Goal[]> {
    let byPatient = this.goalsByTx.get(tx);
    if (!byPatient) this.goalsByTx.set(tx, (byPatient = new Map()));
    const known = byPatient.get(patientId);
    if (known) return known;
    this.goalWrites.delete(tx);
    const rows = await tx.query<{ id: string }>(`SELECT id FROM fhir_patient_resource WHERE patient_id = ? AND resource_type = 'Goal' AND NOT deleted`, [patientId]);
    const stored = rows.length ? await this.store.readCurrentMany(rows.map((r) => ({ resourceType: 'Goal', id: r.id })), tx) : new Map();
    const goals = [...stored.values()].map((v) => parse<Goal>(v.json)).filter((g): g is Goal => !!g && (g.target ?? []).some((t) => !!t.measure));
    byPatient.set(patientId, goals);
    return goals;
  }

  /** The patient's measurements of this measure, each with its Observation's reference. */
  private async measurements(tx: Tx, patientId: string, measure: CodeableConcept, pending: Observation | undefined): Promise<Array<[string, Measurement]>> {
    const codings = (measure.coding ?? []).filter((c) => c.code);
    if (!codings.length) return [];
    const rows = await tx.query<{ resource_id: string }>(
      `SELECT DISTINCT resource_id FROM search_token WHERE patient_id = ? AND resource_type = 'Observation' AND code = 'code'
         AND (system, value) IN (SELECT * FROM unnest(?::text[], ?::text[]))`,
      [patientId, codings.map((c) => c.system ?? ''), codings.map((c) => c.code as string)],
    );
    const ids = rows.map((r) => r.resource_id).filter((id) => id !== pending?.id);
    const stored = await this.store.readCurrentMany(ids.map((id) => ({ resourceType: 'Observation', id })), tx);
    const observations = [...stored.values()].filter((v) => !v.deleted).map((v) => parse<Observation>(v.json));
    if (pending && localRefId(pending.subject, 'Patient') === patientId && sameCode(pending.code, measure)) observations.push(pending);
    const found: Array<[string, Measurement]> = [];
    for (const o of observations) {
      const m = o && measurementOf(o);
      if (m) found.push([`Observation/${o.id}`, m]);
    }
    return found;
  }
}

function parse<T>(text: string | null | undefined): T | undefined {
  return text ? (JSON.parse(text) as T) : undefined;
}
