import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** Device (equipment or staff tracking; a shared reference table). */
@Entity({ tableName: 'resources' })
export class HospitalResourceRow {
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(100)', nullable: true })
  type?: string | null;
  @Property({ type: 'json', nullable: true })
  availability?: unknown;
  @Property({ type: 'json', nullable: true })
  predictiveMaintenance?: unknown;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
