import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** Device (software: an ONNX model version) and the registry's record of it. */
@Entity({ tableName: 'ai_models' })
export class AiModelRow {
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(255)', nullable: true })
  name?: string | null;
  @Property({ type: 'string', columnType: 'varchar(50)', nullable: true })
  version?: string | null;
  @Property({ type: 'decimal', precision: 3, scale: 2, columnType: 'decimal(3,2)', nullable: true })
  accuracy?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true })
  lastTrained?: Date | null;
  @Property({ type: 'boolean', nullable: true, default: true })
  federated?: boolean | null;
  @Property({ type: 'string', columnType: 'varchar(64)', nullable: true })
  task?: string | null;
  @Property({ type: 'string', columnType: 'varchar(64)', nullable: true })
  conditionCode?: string | null;
  @Property({ type: 'string', columnType: 'character(64)', nullable: true })
  sha256?: string | null;
  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  modelFile?: Buffer | null;
  @Property({ type: 'json', columnType: 'jsonb', nullable: true })
  manifest?: unknown;
  @Property({ type: 'string', columnType: 'varchar(16)', default: 'candidate' })
  status!: string;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  registeredAt!: Date;
  /** The version that was active before this one was promoted: what a rollback makes active again. */
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  previousActiveId?: string | null;
  /** `onnx` (a model file) or `rule` (a rule version the code implements; no file). */
  @Property({ type: 'string', columnType: 'varchar(8)', default: 'onnx' })
  kind!: string;
}
