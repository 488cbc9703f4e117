import { Entity, PrimaryKey, Property, type Opt } from '@mikro-orm/core';

/** A token signing key (private JWK encrypted with pgcrypto); no FHIR resource. */
@Entity({ tableName: 'auth_signing_keys' })
export class AuthSigningKeyRow {
  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  kid!: string;
  @Property({ type: 'string', columnType: 'varchar(16)' })
  alg!: string;
  @Property({ type: 'json' })
  publicJwk!: unknown;
  @Property({ type: 'blob', columnType: 'bytea' })
  privateJwk!: Buffer;
  @Property({ type: 'smallint' })
  keyId!: number;
  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Opt<Date>;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  retiredAt?: Date | null;
}
