import { Entity, PrimaryKey, Property, type Opt } from '@mikro-orm/core';

/** One lifecycle transition of a model version (append-only): what, from which status to which, by whom, when. */
@Entity({ tableName: 'ai_model_transitions' })
export class AiModelTransitionRow {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: Opt<string>;
  @Property({ type: 'string', columnType: 'fhir_id' })
  modelId!: string;
  @Property({ type: 'string', columnType: 'varchar(16)' })
  action!: string;
  @Property({ type: 'string', columnType: 'varchar(16)', nullable: true })
  fromStatus?: string | null;
  @Property({ type: 'string', columnType: 'varchar(16)' })
  toStatus!: string;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  otherModelId?: string | null;
  @Property({ type: 'text' })
  actor!: string;
  @Property({ type: 'text', nullable: true })
  reason?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'clock_timestamp()' })
  at!: Opt<Date>;
}
