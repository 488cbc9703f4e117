import { Entity, PrimaryKey, PrimaryKeyProp, Property, type Opt } from '@mikro-orm/core';

/** An append-only audit entry written by the audit triggers (AuditEvent source); it follows its row's patient ('' for shared tables). */
@Entity({ tableName: 'audit_log' })
export class AuditLogRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'text', default: '' })
  patientId!: Opt<string>;
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: Opt<string>;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'clock_timestamp()' })
  at!: Opt<Date>;
  @Property({ type: 'text' })
  actor!: string;
  @Property({ type: 'text', nullable: true })
  requestId?: string | null;
  @Property({ type: 'bigint', defaultRaw: 'txid_current()' })
  txid!: Opt<string>;
  @Property({ type: 'text' })
  tableName!: string;
  @Property({ type: 'string', columnType: 'varchar(8)' })
  operation!: string;
  @Property({ type: 'json' })
  rowKey!: unknown;
  @Property({ type: 'string[]', columnType: 'text[]', nullable: true })
  changedColumns?: string[] | null;
}
