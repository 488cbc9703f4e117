import type { Logger } from 'pino';
import { ConfigError, keyFingerprint, loadConfig, type AppConfig } from './config/app-config';
import { PinoNestLogger, createLogger } from './core/logger';
import { prepareDatabase } from './database/database-bootstrap';

/**
 * What every process does first: read and validate the configuration (refusing to start on
 * errors), warn loudly about development defaults, create the database if missing and migrate it.
 */
export async function bootstrapProcess(name: string, env: NodeJS.ProcessEnv = process.env): Promise<{ config: AppConfig; logger: Logger; nestLogger: PinoNestLogger }> {
  let config: AppConfig;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      // eslint-disable-next-line no-console
      console.error(`[${name}] ${e.message}`);
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
  const logger = createLogger(config.logLevel, name);
  if (config.defaulted.length) {
    const banner = '!'.repeat(78);
    logger.warn(`\n${banner}\n  DEVELOPMENT DEFAULTS IN USE for ${config.defaulted.join(', ')}.\n  Anyone who reads this source can decrypt the data and log in as administrator.\n  Set them in the environment (NODE_ENV=production refuses to start without them).\n${banner}`);
  }
  logger.info({ encryptionKey: keyFingerprint(config.encryptionKey), database: new URL(config.databaseUrl).pathname }, 'configuration loaded');
  const applied = await prepareDatabase(config.databaseDirectUrl);
  if (applied.length) logger.info({ migrations: applied }, 'database migrated');
  return { config, logger, nestLogger: new PinoNestLogger(logger) };
}
