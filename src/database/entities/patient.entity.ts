import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** Patient (contact_info and national_id are pgcrypto-encrypted). */
@Entity({ tableName: 'patients' })
export class PatientRow {
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(255)' })
  name!: string;
  @Property({ type: 'date', nullable: true })
  dob?: string | null;
  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  contactInfo?: Buffer | null;
  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  nationalId?: Buffer | null;
  @Property({ type: 'string', columnType: 'varchar(255)', nullable: true })
  nationalIdSystem?: string | null;
  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  nationalIdHash?: Buffer | null;
  @Property({ type: 'smallint', nullable: true })
  keyId?: number | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  createdAt?: Date | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  updatedAt?: Date | null;
}
