import { Entity, PrimaryKey, Property, type Opt } from '@mikro-orm/core';

/** An OAuth client (SMART backend service or user); no FHIR resource. */
@Entity({ tableName: 'auth_clients' })
export class AuthClientRow {
  @PrimaryKey({ type: 'string', columnType: 'varchar(128)' })
  clientId!: string;
  @Property({ type: 'text' })
  secretHash!: string;
  @Property({ type: 'string', columnType: 'varchar(32)' })
  role!: string;
  @Property({ type: 'text' })
  scopes!: string;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  patientId?: string | null;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  practitionerId?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  revokedAt?: Date | null;
  /** Bumped by each secret rotation: tokens of an earlier generation are refused. */
  @Property({ type: 'integer', default: 0 })
  tokenGeneration!: Opt<number>;
}
