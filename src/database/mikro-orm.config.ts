import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import './pg-types';
import { migrationsList } from '../../migrations';
import type { AppConfig } from '../config/app-config';
import { ENTITIES } from './entities';

/** MikroORM configuration shared by the API, the workers, the CLI scripts and the tests. */
export function mikroOrmConfig(config: Pick<AppConfig, 'databaseUrl'>, poolMax = Number(process.env.PG_POOL_MAX || 10)): Options {
  return defineConfig({
    clientUrl: config.databaseUrl,
    entities: ENTITIES,
    discovery: { warnWhenNoEntities: false },
    extensions: [Migrator],
    migrations: {
      migrationsList,
      tableName: 'mikro_orm_migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
    },
    pool: { min: 0, max: poolMax },
    // Queries are never logged: the encryption key travels as a bind parameter.
    debug: false,
    // For the same reason a failed query's error names its SQL with placeholders, not with the
    // values knex would otherwise splice in (errors reach the logs).
    driverOptions: { compileSqlOnError: false },
    allowGlobalContext: false,
  });
}
