import { Migration } from '@mikro-orm/migrations';

/**
 * ai_models holds two kinds of version: `onnx` (a model file) and `rule` (a rule the code
 * implements: no file; its manifest names the rule, its version, its parameters and the sha256 of its
 * canonical definition, which is also the row's sha256). The hospital modules' AI behaviours are rules.
 */
export class Migration20261127001900_rule_models extends Migration {
  override async up(): Promise<void> {
    this.addSql(`ALTER TABLE ai_models ADD COLUMN kind varchar(8) NOT NULL DEFAULT 'onnx' CHECK (kind IN ('onnx', 'rule'));`);
  }

  override async down(): Promise<void> {
    this.addSql('ALTER TABLE ai_models DROP COLUMN IF EXISTS kind;');
  }
}
