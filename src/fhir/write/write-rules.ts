import { Injectable } from '@nestjs/common';
import type { Resource } from '@medplum/fhirtypes';
import type { Tx } from '../../database/database.service';

/** What a rule may use besides the transaction. */
export interface WriteRuleContext {
  /** Whom the write is attributed to (a client id, or `system:...` for the server's own components). */
  actor?: string;
  /** The current version before this write (undefined for a create, or when it was deleted). */
  previous?: Resource;
  /**
   * Writes what the transaction has buffered so far, so that a rule's own queries (on the
   * projection tables, the search index) see the earlier writes of the same transaction.
   */
  flush(): Promise<void>;
  /** Whether the transaction holds writes of this type not flushed yet (a rule that reads their projection flushes only then). */
  hasPending(resourceType: string): boolean;
}

/**
 * A business rule of a hospital module on the one write path (a double-booked appointment, an
 * occupied bed, an expired drug). It runs inside the write transaction, after validation and
 * before the version is stored, for the resource types it names; it refuses by throwing an
 * OperationOutcomeError, or returns the resource to store instead (e.g. an appointment moved to
 * the nearest free slot); when a resource is deleted, `beforeDelete` lets it give back what the
 * resource held. Concurrency is the rule's to handle (e.g. an advisory lock on what it
 * allocates), since it is the only one that knows what must not overlap.
 */
export interface WriteRule {
  readonly name: string;
  readonly resourceTypes: readonly string[];
  beforeWrite(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<Resource | void>;
  /**
   * Undoes what the resource held, when it is deleted (a dispense's units go back to stock, an
   * appointment's slots are free again); may refuse by throwing. `previous` is the version being
   * deleted.
   */
  beforeDelete?(tx: Tx, previous: Resource, ctx: WriteRuleContext): Promise<void>;
}

/** The rules in force in this process; modules that bring rules add them when they start. */
@Injectable()
export class WriteRules {
  private readonly byType = new Map<string, WriteRule[]>();

  add(rule: WriteRule): void {
    for (const type of rule.resourceTypes) {
      const list = this.byType.get(type) ?? [];
      if (!list.some((r) => r.name === rule.name)) list.push(rule);
      this.byType.set(type, list);
    }
  }

  has(resourceType: string): boolean {
    return this.byType.has(resourceType);
  }

  async apply(tx: Tx, resource: Resource, ctx: WriteRuleContext): Promise<Resource> {
    let current = resource;
    for (const rule of this.byType.get(resource.resourceType) ?? []) {
      const replaced = await rule.beforeWrite(tx, current, ctx);
      if (replaced) {
        if (replaced.resourceType !== resource.resourceType || replaced.id !== resource.id) {
          throw new Error(`write rule ${rule.name} may not change the type or id of ${resource.resourceType}/${resource.id}`);
        }
        current = replaced;
      }
    }
    return current;
  }

  async applyDelete(tx: Tx, previous: Resource, ctx: WriteRuleContext): Promise<void> {
    for (const rule of this.byType.get(previous.resourceType) ?? []) await rule.beforeDelete?.(tx, previous, ctx);
  }
}
