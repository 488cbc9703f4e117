import { Injectable } from '@nestjs/common';
import type { CarePlan, Goal, Observation, Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';
import { localRefId } from '../../fhir/projection/mappers/mapper-utils';
import { isWellnessPlan } from '../../fhir/projection/mappers/wellness.mapper';
import type { WriteRule, WriteRuleContext } from '../../fhir/write/write-rules';
import { SERVER_OWNED } from './wellness-progress.plugin';
import { WellnessProgressService } from './wellness-progress.service';

/**
 * Keeps wellness plans' progress current on the one write path: a wellness CarePlan written by a
 * client gets its progress computed (a client cannot set it); a Goal written refreshes the plans
 * that list it; an Observation refreshes the plans whose goals measure its code (the patient's
 * stored Goals are looked up first, so an Observation no goal measures costs one query).
 */
@Injectable()
export class WellnessProgressRule implements WriteRule {
  readonly name = 'wellness:plan-progress';
  readonly resourceTypes = ['CarePlan', 'Goal', 'Observation'] as const;

  constructor(private readonly progress: WellnessProgressService) {}

  async beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<Resource | void> {
    switch (resource.resourceType) {
      case 'CarePlan': {
        const plan = resource as CarePlan;
        if (this.progress.isOwnWrite(tx, plan.id as string)) return;
        if (isWellnessPlan(plan)) {
          await ctx.flush(); // its goals and their measurements may have been written earlier in this transaction
          return this.progress.withProgress(tx, plan);
        }
        if (plan.extension?.some((e) => SERVER_OWNED.includes(e.url))) {
          return { ...plan, extension: plan.extension.filter((e) => !SERVER_OWNED.includes(e.url)) } as CarePlan;
        }
        return;
      }
      case 'Goal': {
        this.progress.forgetGoals(tx);
        const goal = resource as Goal;
        const patientId = localRefId(goal.subject, 'Patient');
        if (!patientId) return;
        await ctx.flush(); // plans written earlier in this transaction must be found by their goal reference
        await this.progress.refreshPlansOf(tx, patientId, [goal.id as string], { goal });
        return;
      }
      case 'Observation': {
        const obs = resource as Observation;
        const before = ctx.previous as Observation | undefined;
        const patientId = localRefId(obs.subject, 'Patient') ?? localRefId(before?.subject, 'Patient');
        if (!patientId) return;
        if (this.progress.goalsPending(tx)) await ctx.flush(); // a Goal written earlier in this transaction
        const goals = new Set([...(await this.progress.goalsMeasuring(tx, patientId, obs.code)), ...(before ? await this.progress.goalsMeasuring(tx, patientId, before.code) : [])]);
        if (!goals.size) return;
        await ctx.flush();
        await this.progress.refreshPlansOf(tx, patientId, [...goals], { observation: obs });
        return;
      }
    }
  }
}
