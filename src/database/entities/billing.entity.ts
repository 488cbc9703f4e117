import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** Claim. */
@Entity({ tableName: 'billing' })
export class BillingRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'decimal', precision: 10, scale: 2, columnType: 'decimal(10,2)', nullable: true })
  amount?: string | null;
  @Property({ type: 'string', columnType: 'varchar(50)', nullable: true })
  status?: string | null;
  @Property({ type: 'boolean', nullable: true, default: false })
  aiErrorDetected?: boolean | null;
  /** Why: [{code, detail, item?}] from the billing-error rules (src/hospital/billing/claim-errors.ts). */
  @Property({ type: 'json', columnType: 'jsonb', nullable: true })
  aiErrorReasons?: unknown;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  encounterId?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  createdAt?: Date | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
