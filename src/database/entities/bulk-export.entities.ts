import { Entity, PrimaryKey, PrimaryKeyProp, Property, type Opt } from '@mikro-orm/core';

/** One Bulk Data $export: who asked for what, its state and progress (src/fhir/bulk/). */
@Entity({ tableName: 'bulk_exports' })
export class BulkExportRow {
  @PrimaryKey({ type: 'uuid' })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(128)' })
  clientId!: string;
  @Property({ type: 'string', columnType: 'varchar(8)' })
  level!: 'system' | 'patient' | 'group';
  @Property({ type: 'text' })
  requestUrl!: string;
  @Property({ type: 'json', columnType: 'jsonb' })
  params!: unknown;
  @Property({ type: 'boolean' })
  deidentified!: boolean;
  @Property({ type: 'string', columnType: 'varchar(12)', default: 'accepted' })
  status!: Opt<string>;
  @Property({ type: 'datetime', columnType: 'timestamptz' })
  transactionTime!: Date;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  enqueuedAt?: Date | null;
  @Property({ type: 'integer', default: 0 })
  attempt!: Opt<number>;
  @Property({ type: 'integer', default: 0 })
  exported!: Opt<number>;
  @Property({ type: 'string', columnType: 'varchar(64)', nullable: true })
  currentType?: string | null;
  @Property({ type: 'text', nullable: true })
  error?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  completedAt?: Date | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  expiresAt?: Date | null;
}

/** One NDJSON file of an export attempt, encrypted like the resources it copies. */
@Entity({ tableName: 'bulk_export_files' })
export class BulkExportFileRow {
  [PrimaryKeyProp]?: ['exportId', 'attempt', 'seq'];

  @PrimaryKey({ type: 'uuid' })
  exportId!: string;
  @PrimaryKey({ type: 'integer' })
  attempt!: number;
  @PrimaryKey({ type: 'integer' })
  seq!: number;
  @Property({ type: 'string', columnType: 'varchar(6)' })
  kind!: 'output' | 'error';
  @Property({ type: 'string', columnType: 'varchar(64)' })
  resourceType!: string;
  @Property({ type: 'integer' })
  count!: number;
  @Property({ type: 'integer' })
  bytes!: number;
  @Property({ type: 'blob', columnType: 'bytea' })
  contentEnc!: Buffer;
  @Property({ type: 'smallint' })
  keyId!: number;
}
