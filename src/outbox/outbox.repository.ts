import { Injectable } from '@nestjs/common';
import type { Tx } from '../database/database.service';
import { DatabaseService } from '../database/database.service';

export type ResourceAction = 'create' | 'update' | 'delete';

/** A change to a resource, recorded in the same transaction as the change (transactional outbox). */
export interface ResourceEvent {
  id: string;
  resourceType: string;
  resourceId: string;
  versionId: number;
  patientId: string | null;
  action: ResourceAction;
  /**
   * Who made the change: the write transaction's actor (`client:<id>`, `system:ai:<model>`...).
   * Lets the fan-out pass over writes no consumer triggers on (the AI's own) without reading them.
   * Null or absent on events recorded without one.
   */
  actor?: string | null;
}

/** The data of a resource-events job: committed events in outbox order. */
export interface ResourceEventGroup {
  events: ResourceEvent[];
}

export const OUTBOX_CHANNEL = 'fhir_outbox';

/**
 * The outbox: written inside the write transaction, so an event exists exactly when its change
 * committed; drained into BullMQ by the relay, so nothing is lost while Redis is down.
 */
@Injectable()
export class OutboxRepository {
  constructor(private readonly db: DatabaseService) {}

  /**
   * Records the events of a write; their actor is the transaction's unless an event names one. In
   * the same statement, wakes the relay when the transaction commits (PostgreSQL delivers NOTIFY on
   * commit only, once per channel and payload, and drops it with a rolled-back savepoint).
   */
  async recordMany(tx: Tx, events: Array<Omit<ResourceEvent, 'id'>>): Promise<void> {
    if (!events.length) return;
    await tx.query(
      `WITH recorded AS (
         INSERT INTO outbox_events (resource_type, resource_id, version_id, patient_id, action, actor)
         SELECT * FROM unnest(?::text[], ?::text[], ?::integer[], ?::text[], ?::text[], ?::text[]))
       SELECT pg_notify(?, '')`,
      [
        events.map((e) => e.resourceType),
        events.map((e) => e.resourceId),
        events.map((e) => e.versionId),
        events.map((e) => e.patientId),
        events.map((e) => e.action),
        events.map((e) => e.actor ?? tx.actor ?? null),
        OUTBOX_CHANNEL,
      ],
    );
  }

  /**
   * Claims up to `limit` undispatched events (and the rest of the last transactions' events) and
   * hands them to `publish`, in outbox order, grouped by the (sub)transaction that wrote them: its
   * events became visible together, so a drain after a crash between publishing and marking claims
   * the same groups again (unless another relay running beside it holds some of a group's rows:
   * SKIP LOCKED passes over them, and the group goes out in two parts). They are marked
   * dispatched only if publishing succeeded, in the same transaction that locked them, so several
   * relays can run at once (SKIP LOCKED) and a failure leaves them for the next pass.
   */
  async drain(limit: number, publish: (groups: ResourceEvent[][]) => Promise<void>): Promise<number> {
    return this.db.transaction({ actor: 'system:outbox-relay' }, async (tx) => {
      type Row = { id: string; resource_type: string; resource_id: string; version_id: number; patient_id: string | null; action: ResourceAction; actor: string | null; writer: string };
      const columns = 'id, resource_type, resource_id, version_id, patient_id, action, actor, xmin::text AS writer';
      const rows = await tx.query<Row>(`SELECT ${columns} FROM outbox_events WHERE dispatched_at IS NULL ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`, [limit]);
      if (!rows.length) return 0;
      if (rows.length >= limit) {
        // A full claim may have cut a transaction's events: claim the rest of them too, so that a
        // group is always the whole of what one (sub)transaction wrote, whatever the drain's window.
        const rest = await tx.query<Row>(
          `SELECT ${columns} FROM outbox_events WHERE dispatched_at IS NULL AND xmin::text = ANY(?::text[]) AND id > ?
           ORDER BY id FOR UPDATE SKIP LOCKED`,
          [[...new Set(rows.map((r) => r.writer))], rows[rows.length - 1].id],
        );
        rows.push(...rest);
      }
      const groups = new Map<string, ResourceEvent[]>();
      for (const r of rows) {
        let group = groups.get(r.writer);
        if (!group) groups.set(r.writer, (group = []));
        group.push({
          id: String(r.id),
          resourceType: r.resource_type,
          resourceId: r.resource_id,
          versionId: Number(r.version_id),
          patientId: r.patient_id,
          action: r.action,
          actor: r.actor,
        });
      }
      await publish([...groups.values()]);
      await tx.query(`UPDATE outbox_events SET dispatched_at = now() WHERE id = ANY(?::bigint[])`, [rows.map((r) => r.id)]);
      return rows.length;
    });
  }

  /**
   * Removes published events older than `before`, among the `scan` oldest rows (walked by primary
   * key, so each call costs the same however large the table): the outbox is a hand-over, not a
   * record (the audit log and the resource history are). Unpublished events are never removed.
   */
  async removePublished(before: Date, scan = 10_000): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM outbox_events WHERE id IN (SELECT id FROM outbox_events ORDER BY id LIMIT ?) AND dispatched_at < ? RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [scan, before],
    );
    return rows[0]?.n ?? 0;
  }
}
