import { Migration20261126000100_foundation } from './Migration20261126000100_foundation';
import { Migration20261126000200_search_tokens } from './Migration20261126000200_search_tokens';
import { Migration20261126000300_key_rotation } from './Migration20261126000300_key_rotation';
import { Migration20261126000400_search_index } from './Migration20261126000400_search_index';
import { Migration20261126000500_ai_models } from './Migration20261126000500_ai_models';
import { Migration20261127000600_model_lifecycle } from './Migration20261127000600_model_lifecycle';
import { Migration20261127000700_model_predictions } from './Migration20261127000700_model_predictions';
import { Migration20261127000800_bulk_export } from './Migration20261127000800_bulk_export';
import { Migration20261127001000_scheduling_beds } from './Migration20261127001000_scheduling_beds';
import { Migration20261127000900_citus_ready } from './Migration20261127000900_citus_ready';
import { Migration20261127001200_pharmacy_billing } from './Migration20261127001200_pharmacy_billing';
import { Migration20261127001400_alerts_wellness } from './Migration20261127001400_alerts_wellness';
import { Migration20261127001500_exchange } from './Migration20261127001500_exchange';
import { Migration20261127001700_exchange_push_dispatch } from './Migration20261127001700_exchange_push_dispatch';
import { Migration20261127001900_rule_models } from './Migration20261127001900_rule_models';
import { Migration20261127002200_fhir_store_audit_statements } from './Migration20261127002200_fhir_store_audit_statements';
import { Migration20261127002300_audit_events_kept_once } from './Migration20261127002300_audit_events_kept_once';
import { Migration20261127002400_exchange_deletions } from './Migration20261127002400_exchange_deletions';
import { Migration20261127002500_history_request } from './Migration20261127002500_history_request';
import { Migration20261127002600_history_audit_columns } from './Migration20261127002600_history_audit_columns';
import { Migration20261127002000_ai_throughput } from './Migration20261127002000_ai_throughput';
import { Migration20261128002700_ai_result_basis } from './Migration20261128002700_ai_result_basis';

/** Every migration, in order. Listed explicitly so that ts-jest, ts-node and the compiled build agree. */
export const migrationsList = [
  { name: 'Migration20261126000100_foundation', class: Migration20261126000100_foundation },
  { name: 'Migration20261126000200_search_tokens', class: Migration20261126000200_search_tokens },
  { name: 'Migration20261126000300_key_rotation', class: Migration20261126000300_key_rotation },
  { name: 'Migration20261126000400_search_index', class: Migration20261126000400_search_index },
  { name: 'Migration20261126000500_ai_models', class: Migration20261126000500_ai_models },
  { name: 'Migration20261127000600_model_lifecycle', class: Migration20261127000600_model_lifecycle },
  { name: 'Migration20261127000700_model_predictions', class: Migration20261127000700_model_predictions },
  { name: 'Migration20261127000800_bulk_export', class: Migration20261127000800_bulk_export },
  { name: 'Migration20261127001000_scheduling_beds', class: Migration20261127001000_scheduling_beds },
  { name: 'Migration20261127000900_citus_ready', class: Migration20261127000900_citus_ready },
  { name: 'Migration20261127001200_pharmacy_billing', class: Migration20261127001200_pharmacy_billing },
  { name: 'Migration20261127001400_alerts_wellness', class: Migration20261127001400_alerts_wellness },
  { name: 'Migration20261127001500_exchange', class: Migration20261127001500_exchange },
  { name: 'Migration20261127001700_exchange_push_dispatch', class: Migration20261127001700_exchange_push_dispatch },
  { name: 'Migration20261127001900_rule_models', class: Migration20261127001900_rule_models },
  { name: 'Migration20261127002000_ai_throughput', class: Migration20261127002000_ai_throughput },
  { name: 'Migration20261127002200_fhir_store_audit_statements', class: Migration20261127002200_fhir_store_audit_statements },
  { name: 'Migration20261127002300_audit_events_kept_once', class: Migration20261127002300_audit_events_kept_once },
  { name: 'Migration20261127002400_exchange_deletions', class: Migration20261127002400_exchange_deletions },
  { name: 'Migration20261127002500_history_request', class: Migration20261127002500_history_request },
  { name: 'Migration20261127002600_history_audit_columns', class: Migration20261127002600_history_audit_columns },
  { name: 'Migration20261128002700_ai_result_basis', class: Migration20261128002700_ai_result_basis },
];
