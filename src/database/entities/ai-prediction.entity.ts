import { Entity, PrimaryKey, PrimaryKeyProp, Property, type Opt } from '@mikro-orm/core';

/** One model version's prediction on one AI job (active or shadow); no FHIR resource of its own. */
@Entity({ tableName: 'ai_predictions' })
export class AiPredictionRow {
  [PrimaryKeyProp]?: ['patientId', 'modelId', 'jobId'];

  /** '' when the job's resource belongs to no patient. */
  @PrimaryKey({ type: 'text', default: '' })
  patientId!: Opt<string>;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  modelId!: string;
  @PrimaryKey({ type: 'string', columnType: 'varchar(255)' })
  jobId!: string;
  @Property({ type: 'string', columnType: 'varchar(64)' })
  task!: string;
  @Property({ type: 'string', columnType: 'varchar(200)' })
  inputRef!: string;
  @Property({ type: 'string', columnType: 'varchar(200)', nullable: true })
  outputRef?: string | null;
  @Property({ type: 'boolean' })
  shadow!: boolean;
  @Property({ type: 'float', columnType: 'real', nullable: true })
  score?: number | null;
  @Property({ type: 'string', columnType: 'varchar(64)', nullable: true })
  label?: string | null;
  @Property({ type: 'json', columnType: 'jsonb', nullable: true })
  outputs?: unknown;
  @Property({ type: 'float', columnType: 'real', nullable: true })
  latencyMs?: number | null;
  @Property({ type: 'json', columnType: 'jsonb', nullable: true })
  inputs?: unknown;
  @Property({ type: 'text', nullable: true })
  error?: string | null;
  /** The exact inputs of a per-patient result (model version and input versions), migration 002700. */
  @Property({ type: 'text', nullable: true })
  basis?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'clock_timestamp()' })
  createdAt!: Opt<Date>;
}
