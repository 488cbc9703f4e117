import { Migration } from '@mikro-orm/migrations';

/**
 * The server's AuditEvents are written once and never changed (no client may create, change or
 * delete one), so their one version is now kept once, in fhir_resource, which is also their
 * history (ResourceStore.KEPT_ONCE_TYPES). The copies the history table holds of versions that are
 * current are removed (each removal is recorded in audit_log by the store's audit trigger); any
 * other AuditEvent history row is left as it is.
 */
export class Migration20261127002300_audit_events_kept_once extends Migration {
  override async up(): Promise<void> {
    this.addSql(`DELETE FROM fhir_resource_history h USING fhir_resource c
                 WHERE h.resource_type = 'AuditEvent' AND c.resource_type = 'AuditEvent' AND c.id = h.id AND c.version_id = h.version_id;`);
  }

  override async down(): Promise<void> {
    this.addSql(`INSERT INTO fhir_resource_history (resource_type, id, version_id, last_updated, deleted, content, content_enc, key_id)
                 SELECT resource_type, id, version_id, last_updated, deleted, content, content_enc, key_id FROM fhir_resource c
                 WHERE c.resource_type = 'AuditEvent'
                   AND NOT EXISTS (SELECT 1 FROM fhir_resource_history h WHERE h.resource_type = c.resource_type AND h.id = c.id AND h.version_id = c.version_id);`);
  }
}
