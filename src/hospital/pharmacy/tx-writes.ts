import { Injectable } from '@nestjs/common';
import type { Tx } from '../../database/database.service';

/**
 * Which resources of a type a rule has seen written in a transaction. A rule that needs "what this
 * transaction wrote so far" reads those few through the write path's current-version lookup
 * (which sees buffered writes, and the truth again after a batch entry's rollback) instead of
 * flushing the transaction's buffer before every query, which would break bundles' bulk writes
 * into one round trip per entry.
 */
@Injectable()
export class TxWrites {
  private readonly seen = new WeakMap<Tx, Map<string, Set<string>>>();

  note(tx: Tx, resourceType: string, id: string): void {
    let byType = this.seen.get(tx);
    if (!byType) this.seen.set(tx, (byType = new Map()));
    const ids = byType.get(resourceType) ?? new Set<string>();
    ids.add(id);
    byType.set(resourceType, ids);
  }

  ids(tx: Tx, resourceType: string): string[] {
    return [...(this.seen.get(tx)?.get(resourceType) ?? [])];
  }
}
