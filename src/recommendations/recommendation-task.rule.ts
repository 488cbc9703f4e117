import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { Resource, Task } from '@medplum/fhirtypes';
import type { Tx } from '../database/database.service';
import { isAiActor } from '../fhir/write/ai-source';
import { OperationOutcomeError } from '../fhir/operation-outcome';
import { WriteRules, type WriteRule, type WriteRuleContext } from '../fhir/write/write-rules';
import { recommendationWriteRefusal, type RecommendationWriter } from './recommendation-guard';

/**
 * The AI's recommendations (Tasks coded urn:fhir-ai-server:ai-task#recommendation) change only as
 * the approval rules allow, on every write path (REST create, update, patch, delete, conditional
 * or not, transaction and batch entries, pulls from other servers): the AI raises and supersedes
 * them (its transactions' actor, `system:ai:...`), a clinician decides them through
 * RecommendationsService, whose transaction is given a permit for that one Task and status
 * (`permitDecision`); anyone else may only add notes. A refusal is a 409 OperationOutcome naming
 * the approval API (recommendation-guard.ts says what is refused and why).
 */
@Injectable()
export class RecommendationTaskRule implements WriteRule, OnModuleInit {
  readonly name = 'recommendations:approval';
  readonly resourceTypes = ['Task'] as const;
  /** The decisions permitted in a running transaction: Task id → the status it may be given. Never client input. */
  private readonly permits = new WeakMap<Tx, Map<string, 'accepted' | 'rejected'>>();

  constructor(private readonly rules: WriteRules) {}

  onModuleInit(): void {
    this.rules.add(this);
  }

  /** Lets this transaction decide this recommendation (the recommendation service, before its write). */
  permitDecision(tx: Tx, taskId: string, status: 'accepted' | 'rejected'): void {
    const permits = this.permits.get(tx) ?? new Map<string, 'accepted' | 'rejected'>();
    permits.set(taskId, status);
    this.permits.set(tx, permits);
  }

  beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<void> {
    this.check(tx, ctx.previous as Task | undefined, resource as Task, ctx.actor);
    return Promise.resolve();
  }

  beforeDelete(tx: Tx, previous: Resource, ctx: WriteRuleContext): Promise<void> {
    this.check(tx, previous as Task, undefined, ctx.actor);
    return Promise.resolve();
  }

  private check(tx: Tx, previous: Task | undefined, next: Task | undefined, actor: string | undefined): void {
    const id = (next ?? previous)?.id as string;
    const permitted = this.permits.get(tx)?.get(id);
    const writer: RecommendationWriter = permitted ? { kind: 'decision', status: permitted } : isAiActor(actor) ? { kind: 'ai' } : { kind: 'other' };
    const refusal = recommendationWriteRefusal(previous, next, writer);
    if (refusal) throw OperationOutcomeError.of(409, 'business-rule', refusal, ['Task']);
  }
}
