import { Migration } from '@mikro-orm/migrations';

/**
 * ai_predictions: one row per AI job per model version that ran on it, the active version's
 * (written in the same transaction as its FHIR output) and each shadow version's (no FHIR output).
 * (patient_id, model_id, job_id) is unique, so a retried job is counted once. The statistics per version
 * (counts, latency, score distribution, input drift, shadow agreement) are computed from it.
 *
 * patient_id is the distribution column under Citus (co-located with the patient's data); a
 * sentiment job on a resource without a subject has no patient and gets '' (Citus refuses NULL there). No audit trigger: like the search index, this is a
 * derived record written only by the AI worker next to outputs that are themselves audited. No
 * foreign key to patients, so that the log never blocks deleting a patient's data.
 */
export class Migration20261127000700_model_predictions extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
CREATE TABLE ai_predictions (
  model_id fhir_id NOT NULL REFERENCES ai_models (id) DEFERRABLE INITIALLY DEFERRED,
  job_id varchar(255) NOT NULL,
  patient_id text NOT NULL DEFAULT '',
  task varchar(64) NOT NULL,
  input_ref varchar(200) NOT NULL,     -- the trigger, Type/id/_history/version
  output_ref varchar(200),             -- the FHIR output (Type/id); NULL for a shadow version
  shadow boolean NOT NULL,
  score real,                           -- the manifest's threshold output; NULL when no estimate was made
  label varchar(64),                   -- the class the score falls in (positive/negative, or the label index)
  outputs jsonb,                       -- every model output, as numbers
  latency_ms real,                      -- the model run (inference) alone
  inputs jsonb,                        -- {name: {value, imputed}} as fed to the model (no free text)
  error text,                          -- why a shadow version failed on this job
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (patient_id, model_id, job_id)
);
CREATE INDEX ai_predictions_model_created ON ai_predictions (model_id, created_at DESC, job_id DESC);
CREATE INDEX ai_predictions_job ON ai_predictions (job_id);
CREATE INDEX ai_predictions_patient ON ai_predictions (patient_id);
`);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS ai_predictions;');
  }
}
