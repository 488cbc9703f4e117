import { Entity, PrimaryKey, PrimaryKeyProp, Property, type Opt } from '@mikro-orm/core';

/** A connection to an external FHIR server, also an Endpoint resource (src/exchange/). */
@Entity({ tableName: 'exchange_connections' })
export class ExchangeConnectionRow {
  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(200)', unique: true })
  name!: string;
  @Property({ type: 'text' })
  baseUrl!: string;
  @Property({ type: 'string', columnType: 'varchar(20)' })
  authType!: string;
  @Property({ type: 'text', nullable: true })
  tokenUrl?: string | null;
  @Property({ type: 'text', nullable: true })
  clientId?: string | null;
  @Property({ type: 'text', nullable: true })
  scope?: string | null;
  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  secretEnc?: Buffer | null;
  @Property({ type: 'smallint', nullable: true })
  keyId?: number | null;
  @Property({ type: 'string[]', columnType: 'text[]', nullable: true })
  resourceTypes?: string[] | null;
  @Property({ type: 'integer', nullable: true })
  syncIntervalSeconds?: number | null;
  @Property({ type: 'string', columnType: 'varchar(10)', default: 'active' })
  status!: Opt<string>;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastCheckAt?: Date | null;
  @Property({ type: 'boolean', nullable: true })
  lastCheckOk?: boolean | null;
  @Property({ type: 'json', columnType: 'jsonb', nullable: true })
  lastCheck?: unknown;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastSyncAt?: Date | null;
  @Property({ type: 'string', columnType: 'varchar(12)', nullable: true })
  lastSyncStatus?: string | null;
  @Property({ type: 'bigint', default: 0 })
  resourcesIn!: Opt<string>;
  @Property({ type: 'bigint', default: 0 })
  resourcesOut!: Opt<string>;
  @Property({ type: 'bigint', default: 0 })
  failures!: Opt<string>;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  updatedAt!: Opt<Date>;
}

/** One pull of one connection. */
@Entity({ tableName: 'exchange_sync_runs' })
export class ExchangeSyncRunRow {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(64)' })
  connectionId!: string;
  @Property({ type: 'string', columnType: 'varchar(10)' })
  trigger!: string;
  @Property({ type: 'string', columnType: 'varchar(12)', default: 'queued' })
  status!: Opt<string>;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  enqueuedAt?: Date | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  startedAt?: Date | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  finishedAt?: Date | null;
  @Property({ type: 'integer', default: 0 })
  resourcesIn!: Opt<number>;
  @Property({ type: 'integer', default: 0 })
  unchanged!: Opt<number>;
  @Property({ type: 'integer', default: 0 })
  failed!: Opt<number>;
  @Property({ type: 'text', nullable: true })
  error?: string | null;
  @Property({ type: 'integer', default: 0 })
  deleted!: Opt<number>;
}

/** Where the pull of one resource type of one connection stands. */
@Entity({ tableName: 'exchange_sync_cursors' })
export class ExchangeSyncCursorRow {
  [PrimaryKeyProp]?: ['connectionId', 'resourceType'];

  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  connectionId!: string;
  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  resourceType!: string;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  highWater?: Date | null;
  @Property({ type: 'text', nullable: true })
  nextUrl?: string | null;
  @Property({ type: 'bigint', nullable: true })
  runId?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  deletedHighWater?: Date | null;
}

/** A remote resource pulled, and the local resource it became. */
@Entity({ tableName: 'exchange_remote_resources' })
export class ExchangeRemoteResourceRow {
  [PrimaryKeyProp]?: ['connectionId', 'resourceType', 'remoteId'];

  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  connectionId!: string;
  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  resourceType!: string;
  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  remoteId!: string;
  @Property({ type: 'string', columnType: 'varchar(64)' })
  localId!: string;
  @Property({ type: 'text', nullable: true })
  remoteVersionId?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  remoteLastUpdated?: Date | null;
  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  contentSha256?: Buffer | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  syncedAt!: Opt<Date>;
}

/** One resource version to send to a connection; 'dead' rows are the dead-letter list. */
@Entity({ tableName: 'exchange_push' })
export class ExchangePushRow {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(64)' })
  connectionId!: string;
  @Property({ type: 'string', columnType: 'varchar(64)' })
  resourceType!: string;
  @Property({ type: 'string', columnType: 'varchar(64)' })
  resourceId!: string;
  @Property({ type: 'integer' })
  versionId!: number;
  @Property({ type: 'string', columnType: 'varchar(64)', nullable: true })
  patientId?: string | null;
  @Property({ type: 'string', columnType: 'varchar(8)', default: 'pending' })
  status!: Opt<string>;
  @Property({ type: 'integer', default: 0 })
  attempts!: Opt<number>;
  @Property({ type: 'json', columnType: 'jsonb', nullable: true })
  lastError?: unknown;
  @Property({ type: 'string[]', columnType: 'text[]', nullable: true })
  remoteLocations?: string[] | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  updatedAt!: Opt<Date>;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  sentAt?: Date | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  enqueuedAt?: Date | null;
  @Property({ type: 'integer', default: 0 })
  replays!: Opt<number>;
}

/** A failed check, pull or push, with the OperationOutcome that explains it. */
@Entity({ tableName: 'exchange_failures' })
export class ExchangeFailureRow {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(64)' })
  connectionId!: string;
  @Property({ type: 'string', columnType: 'varchar(5)' })
  direction!: string;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  at!: Opt<Date>;
  @Property({ type: 'bigint', nullable: true })
  runId?: string | null;
  @Property({ type: 'bigint', nullable: true })
  pushId?: string | null;
  @Property({ type: 'text', nullable: true })
  resource?: string | null;
  @Property({ type: 'json', columnType: 'jsonb' })
  outcome!: unknown;
}
