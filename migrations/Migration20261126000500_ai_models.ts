import { Migration } from '@mikro-orm/migrations';

/**
 * ai_models as a registry of model versions: the seed's columns plus the task a version serves,
 * the condition code (diagnosis models), its file's sha256 and bytes (so that every worker loads
 * the same file from the database), the manifest, and its lifecycle status. One active version per
 * task and condition.
 */
export class Migration20261126000500_ai_models extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE ai_models ADD COLUMN task varchar(64);
ALTER TABLE ai_models ADD COLUMN condition_code varchar(64);  -- system|code of the condition a diagnosis model serves
ALTER TABLE ai_models ADD COLUMN sha256 char(64);
ALTER TABLE ai_models ADD COLUMN model_file bytea;
ALTER TABLE ai_models ADD COLUMN manifest jsonb;
ALTER TABLE ai_models ADD COLUMN status varchar(16) NOT NULL DEFAULT 'candidate'
  CHECK (status IN ('candidate', 'shadow', 'active', 'retired'));
ALTER TABLE ai_models ADD COLUMN registered_at timestamptz NOT NULL DEFAULT now();
CREATE UNIQUE INDEX ai_models_name_version ON ai_models (name, version);
CREATE UNIQUE INDEX ai_models_one_active ON ai_models (task, coalesce(condition_code, '')) WHERE status = 'active';
`);
  }

  override async down(): Promise<void> {
    this.addSql(`DROP INDEX IF EXISTS ai_models_one_active, ai_models_name_version;
ALTER TABLE ai_models DROP COLUMN task, DROP COLUMN condition_code, DROP COLUMN sha256, DROP COLUMN model_file, DROP COLUMN manifest, DROP COLUMN status, DROP COLUMN registered_at;`);
  }
}
