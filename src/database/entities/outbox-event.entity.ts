import { Entity, PrimaryKey, Property, type Opt } from '@mikro-orm/core';

/** A resource change recorded in the write transaction, drained into BullMQ; no FHIR resource. */
@Entity({ tableName: 'outbox_events' })
export class OutboxEventRow {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: Opt<string>;
  @Property({ type: 'string', columnType: 'varchar(64)' })
  resourceType!: string;
  @Property({ type: 'string', columnType: 'fhir_id' })
  resourceId!: string;
  @Property({ type: 'integer' })
  versionId!: number;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  patientId?: string | null;
  @Property({ type: 'string', columnType: 'varchar(16)' })
  action!: string;
  /** The transaction's actor (migration 002000); null on older events. */
  @Property({ type: 'text', nullable: true })
  actor?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  dispatchedAt?: Date | null;
}
