import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** Medication: one stocked batch (stock and reorder threshold in extensions; see src/hospital/pharmacy). */
@Entity({ tableName: 'inventory' })
export class InventoryRow {
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(255)', nullable: true })
  medication?: string | null;
  @Property({ type: 'string', columnType: 'varchar(64)', nullable: true })
  medicationCode?: string | null;
  @Property({ type: 'string', columnType: 'varchar(100)', nullable: true })
  lotNumber?: string | null;
  @Property({ type: 'integer', nullable: true })
  stockLevel?: number | null;
  @Property({ type: 'integer', nullable: true })
  reorderThreshold?: number | null;
  @Property({ type: 'date', nullable: true })
  expiryDate?: string | null;
  @Property({ type: 'boolean', nullable: true, default: false })
  reorderAlert?: boolean | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
