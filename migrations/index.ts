import { Migration20261126000100_foundation } from './Migration20261126000100_foundation';

/** Every migration, in order. Listed explicitly so that ts-jest, ts-node and the compiled build agree. */
export const migrationsList = [
  { name: 'Migration20261126000100_foundation', class: Migration20261126000100_foundation },
];
