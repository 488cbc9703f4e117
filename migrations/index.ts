import { Migration20261126000100_foundation } from './Migration20261126000100_foundation';
import { Migration20261126000200_search_tokens } from './Migration20261126000200_search_tokens';
import { Migration20261126000300_key_rotation } from './Migration20261126000300_key_rotation';
import { Migration20261126000400_search_index } from './Migration20261126000400_search_index';
import { Migration20261126000500_ai_models } from './Migration20261126000500_ai_models';
import { Migration20261127000900_citus_ready } from './Migration20261127000900_citus_ready';

/** Every migration, in order. Listed explicitly so that ts-jest, ts-node and the compiled build agree. */
export const migrationsList = [
  { name: 'Migration20261126000100_foundation', class: Migration20261126000100_foundation },
  { name: 'Migration20261126000200_search_tokens', class: Migration20261126000200_search_tokens },
  { name: 'Migration20261126000300_key_rotation', class: Migration20261126000300_key_rotation },
  { name: 'Migration20261126000400_search_index', class: Migration20261126000400_search_index },
  { name: 'Migration20261126000500_ai_models', class: Migration20261126000500_ai_models },
  { name: 'Migration20261127000900_citus_ready', class: Migration20261127000900_citus_ready },
];
