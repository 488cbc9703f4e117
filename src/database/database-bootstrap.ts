import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import { databaseName } from '../config/app-config';
import { mikroOrmConfig } from './mikro-orm.config';
import { distributeOnCitus } from './citus/citus-distribution';

/** A fixed advisory-lock key so that concurrent starters (API, workers) migrate one at a time. */
const MIGRATION_LOCK = 0x46484952; // 'FHIR'

/** Creates the database named in DATABASE_URL when it does not exist yet. */
export async function ensureDatabase(databaseUrl: string, template?: string): Promise<boolean> {
  const name = databaseName(databaseUrl);
  const adminUrl = new URL(databaseUrl);
  adminUrl.pathname = '/postgres';
  const client = new Client({ connectionString: adminUrl.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${quoteIdent(name)}${template ? ` TEMPLATE ${quoteIdent(template)}` : ''}`);
    } catch (e) {
      // Another process created it first.
      if ((e as { code?: string }).code !== '42P04') throw e;
      return false;
    }
    return true;
  } finally {
    await client.end();
  }
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const adminUrl = new URL(databaseUrl);
  const name = databaseName(databaseUrl);
  adminUrl.pathname = '/postgres';
  const client = new Client({ connectionString: adminUrl.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/**
 * Applies pending migrations, holding an advisory lock so that only one process migrates at a time,
 * then, on Citus, distributes the tables (src/database/citus/).
 */
export async function migrate(databaseUrl: string): Promise<string[]> {
  const lock = new Client({ connectionString: databaseUrl });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const orm = await MikroORM.init(mikroOrmConfig({ databaseUrl }, 2));
    try {
      const applied = await orm.getMigrator().up();
      return [...applied.map((m) => m.name), ...(await distributeOnCitus(lock))];
    } finally {
      await orm.close(true);
    }
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.end();
  }
}

/** Creates the database if missing and brings its schema up to date. */
export async function prepareDatabase(databaseUrl: string): Promise<string[]> {
  await ensureDatabase(databaseUrl);
  return migrate(databaseUrl);
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
