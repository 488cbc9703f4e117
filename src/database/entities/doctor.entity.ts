import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** Practitioner (+ PractitionerRole for the specialty). */
@Entity({ tableName: 'doctors' })
export class DoctorRow {
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(255)' })
  name!: string;
  @Property({ type: 'string', columnType: 'varchar(255)', nullable: true })
  specialty?: string | null;
  @Property({ type: 'json', nullable: true })
  schedule?: unknown;
  @Property({ type: 'string', columnType: 'varchar(64)', nullable: true })
  npi?: string | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  createdAt?: Date | null;
}
