import { Migration } from '@mikro-orm/migrations';

/**
 * The model registry's lifecycle: which version was active before a promoted one (what a rollback
 * returns to), and an append-only history of every transition (register, shadow, promote,
 * rollback) with who made it and when.
 */
export class Migration20261127000600_model_lifecycle extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE ai_models ADD COLUMN previous_active_id fhir_id REFERENCES ai_models(id) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE ai_model_transitions (
  id bigserial PRIMARY KEY,
  model_id fhir_id NOT NULL REFERENCES ai_models(id) DEFERRABLE INITIALLY DEFERRED,
  action varchar(16) NOT NULL CHECK (action IN ('register', 'shadow', 'promote', 'rollback', 'seed')),
  from_status varchar(16),
  to_status varchar(16) NOT NULL,
  -- promote: the version it retired; rollback: the version it made active again
  other_model_id fhir_id REFERENCES ai_models(id) DEFERRABLE INITIALLY DEFERRED,
  actor text NOT NULL,
  reason text,
  at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ai_model_transitions_model ON ai_model_transitions (model_id, id);

CREATE FUNCTION ai_model_transitions_immutable() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'ai_model_transitions is append-only';
END
$fn$;
CREATE TRIGGER ai_model_transitions_no_change BEFORE UPDATE OR DELETE ON ai_model_transitions
  FOR EACH ROW EXECUTE FUNCTION ai_model_transitions_immutable();
`);
  }

  override async down(): Promise<void> {
    this.addSql(`DROP TABLE IF EXISTS ai_model_transitions;
DROP FUNCTION IF EXISTS ai_model_transitions_immutable();
ALTER TABLE ai_models DROP COLUMN IF EXISTS previous_active_id;`);
  }
}
