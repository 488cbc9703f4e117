import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';

/** Validated configuration, read once from the environment. */
export interface AppConfig {
  nodeEnv: string;
  port: number;
  databaseUrl: string;
  /**
   * A direct connection to PostgreSQL (DATABASE_DIRECT_URL, default DATABASE_URL) for what a
   * pooler in transaction mode cannot carry: creating and migrating the database (session
   * advisory lock) and the outbox relay's LISTEN.
   */
  databaseDirectUrl: string;
  redisUrl: string;
  queuePrefix: string;
  /** The active key's secret (from ENCRYPTION_KEY, or the first of ENCRYPTION_KEYS). Never logged. */
  encryptionKey: string;
  /** Every configured key, the active one first (ENCRYPTION_KEYS="2:new,1:old"; ENCRYPTION_KEY alone is key 1). */
  encryptionKeys: Array<{ id: number; secret: string }>;
  /** The blind index's own secret, if set apart from the data keys (BLIND_INDEX_KEY). */
  blindIndexKey?: string;
  authClientId: string;
  authClientSecret: string;
  /** Base URL the server names itself by (fullUrl, Location); derived from the request when unset. */
  publicBaseUrl?: string;
  tokenTtlSeconds: number;
  maxBodyBytes: number;
  /** Largest ONNX file POST /api/models accepts (MODEL_MAX_BYTES; larger: 413). */
  modelMaxBytes: number;
  /** An external OpenID Connect issuer whose tokens are accepted besides the server's own. */
  oidc?: { issuer: string; audience: string; jwksUrl: string };
  /** Which requests get an AuditEvent: all, writes (and failures) only, or off. */
  auditEvents: 'all' | 'writes' | 'off';
  /** Whether rest-hook Subscriptions may call loopback and private addresses (SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS). */
  subscriptionAllowPrivateEndpoints: boolean;
  /** How often a notification is tried before its Subscription is set to error (SUBSCRIPTION_DELIVERY_ATTEMPTS). */
  subscriptionDeliveryAttempts: number;
  /** Whether connections to external FHIR servers may name loopback and private addresses (CONNECTION_ALLOW_PRIVATE_ENDPOINTS). */
  connectionAllowPrivateEndpoints: boolean;
  /** How long one request to an external FHIR server may take, in ms (EXCHANGE_TIMEOUT_MS). */
  exchangeTimeoutMs: number;
  /** Resources per page a pull asks the remote for (EXCHANGE_PAGE_SIZE). */
  exchangePageSize: number;
  /** How often a push is tried before it goes to the dead-letter list (EXCHANGE_PUSH_ATTEMPTS). */
  exchangePushAttempts: number;
  /** Allowed CORS origins (`*` for any); empty: CORS off. */
  corsOrigins: string[];
  /** Requests per minute per remote address (before authentication); 0: off. */
  rateLimitPerMinute: number;
  /** Requests per minute per authenticated client; 0: off. */
  clientRateLimitPerMinute: number;
  /** Failed sign-ins (token endpoint, queue dashboard Basic) of one client id before it is locked out; 0: off. */
  loginMaxFailures: number;
  /** How long failures are counted and a lockout lasts, in seconds. */
  loginLockoutSeconds: number;
  /** Most entries a batch or transaction Bundle may hold. */
  maxBundleEntries: number;
  /** Threads that validate bundle entries beside the event loop (VALIDATION_THREADS; 0: in the request's own thread). */
  validationThreads: number;
  /** Search page sizes: the default _count and the largest a client may ask for. */
  searchDefaultCount: number;
  searchMaxCount: number;
  /** Longest a search's statement may run (SET LOCAL statement_timeout); 0: no limit. */
  searchTimeoutMs: number;
  /**
   * Connections of the searches' own read-only pool, per process (SEARCH_POOL_MAX; default twice
   * the host's cores plus one, at most 10): searches beyond it wait in the process, not in PostgreSQL.
   */
  searchPoolMax: number;
  /** Most resources one search page includes (_include/_revinclude); more are left out and said so. */
  searchMaxIncluded: number;
  logLevel: string;
  /** Which configuration values fell back to development defaults. */
  defaulted: string[];
}

export class ConfigError extends Error {}

const DEV_SECRETS = {
  ENCRYPTION_KEY: 'dev-only-encryption-key-change-me-0123456789',
  AUTH_CLIENT_ID: 'admin',
  AUTH_CLIENT_SECRET: 'dev-only-admin-secret',
} as const;

function intVar(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number, errors: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    errors.push(`${name} must be an integer, got "${raw}"`);
    return fallback;
  }
  const n = Number(raw);
  if (n < min || n > max) errors.push(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function urlVar(env: NodeJS.ProcessEnv, name: string, fallback: string, protocols: string[], errors: string[]): string {
  const value = env[name] || fallback;
  try {
    const u = new URL(value);
    if (!protocols.includes(u.protocol)) errors.push(`${name} must use ${protocols.join(' or ')}, got ${u.protocol}`);
  } catch {
    errors.push(`${name} is not a valid URL`);
  }
  return value;
}

/**
 * Reads and validates the environment. Outside production, missing secrets get development
 * defaults (reported in `defaulted`, which the caller warns about loudly); in production they are
 * required and the process refuses to start.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const errors: string[] = [];
  const nodeEnv = env.NODE_ENV || 'development';
  const production = nodeEnv === 'production';
  const defaulted: string[] = [];

  const secret = (name: keyof typeof DEV_SECRETS, minLength: number): string => {
    const value = env[name];
    if (value === undefined || value === '') {
      if (production) {
        errors.push(`${name} is required when NODE_ENV=production`);
        return '';
      }
      defaulted.push(name);
      return DEV_SECRETS[name];
    }
    if (value.length < minLength) errors.push(`${name} must be at least ${minLength} characters`);
    return value;
  };

  const queuePrefix = env.QUEUE_PREFIX || 'fhir';
  if (!/^[A-Za-z0-9_{}:-]{1,64}$/.test(queuePrefix)) errors.push('QUEUE_PREFIX may hold only letters, digits, _ - : { }');

  const databaseUrl = urlVar(env, 'DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/fhir', ['postgres:', 'postgresql:'], errors);
  const config: AppConfig = {
    nodeEnv,
    port: intVar(env, 'PORT', 8080, 0, 65535, errors),
    databaseUrl,
    databaseDirectUrl: urlVar(env, 'DATABASE_DIRECT_URL', databaseUrl, ['postgres:', 'postgresql:'], errors),
    redisUrl: urlVar(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:'], errors),
    queuePrefix,
    encryptionKey: '',
    encryptionKeys: [],
    blindIndexKey: env.BLIND_INDEX_KEY || undefined,
    authClientId: secret('AUTH_CLIENT_ID', 1),
    authClientSecret: secret('AUTH_CLIENT_SECRET', production ? 16 : 1),
    publicBaseUrl: env.PUBLIC_BASE_URL ? urlVar(env, 'PUBLIC_BASE_URL', '', ['http:', 'https:'], errors).replace(/\/+$/, '') : undefined,
    tokenTtlSeconds: intVar(env, 'TOKEN_TTL_SECONDS', 3600, 60, 86400, errors),
    maxBodyBytes: intVar(env, 'MAX_BODY_BYTES', 16 * 1024 * 1024, 1024, 512 * 1024 * 1024, errors),
    modelMaxBytes: intVar(env, 'MODEL_MAX_BYTES', 50 * 1024 * 1024, 1024, 1024 * 1024 * 1024, errors),
    auditEvents: (env.AUDIT_EVENTS || 'all') as AppConfig['auditEvents'],
    subscriptionAllowPrivateEndpoints: env.SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS === 'true',
    subscriptionDeliveryAttempts: intVar(env, 'SUBSCRIPTION_DELIVERY_ATTEMPTS', 5, 1, 100, errors),
    connectionAllowPrivateEndpoints: env.CONNECTION_ALLOW_PRIVATE_ENDPOINTS === 'true',
    exchangeTimeoutMs: intVar(env, 'EXCHANGE_TIMEOUT_MS', 30_000, 100, 600_000, errors),
    exchangePageSize: intVar(env, 'EXCHANGE_PAGE_SIZE', 100, 1, 1000, errors),
    exchangePushAttempts: intVar(env, 'EXCHANGE_PUSH_ATTEMPTS', 8, 1, 100, errors),
    corsOrigins: (env.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    rateLimitPerMinute: intVar(env, 'RATE_LIMIT_PER_MINUTE', 60000, 0, 10_000_000, errors),
    clientRateLimitPerMinute: intVar(env, 'CLIENT_RATE_LIMIT_PER_MINUTE', 60000, 0, 10_000_000, errors),
    loginMaxFailures: intVar(env, 'LOGIN_MAX_FAILURES', 10, 0, 1_000_000, errors),
    loginLockoutSeconds: intVar(env, 'LOGIN_LOCKOUT_SECONDS', 300, 1, 86_400, errors),
    maxBundleEntries: intVar(env, 'MAX_BUNDLE_ENTRIES', 10000, 1, 1000000, errors),
    validationThreads: intVar(env, 'VALIDATION_THREADS', Math.max(1, Math.min(4, availableParallelism() - 1)), 0, 64, errors),
    searchDefaultCount: intVar(env, 'SEARCH_DEFAULT_COUNT', 20, 1, 10000, errors),
    searchMaxCount: intVar(env, 'SEARCH_MAX_COUNT', 1000, 1, 10000, errors),
    searchTimeoutMs: intVar(env, 'SEARCH_TIMEOUT_MS', 5000, 0, 3_600_000, errors),
    // Never more than the main pool's default: on a host of many cores, PostgreSQL's max_connections (100 by default) would run out first.
    searchPoolMax: intVar(env, 'SEARCH_POOL_MAX', Math.min(10, 2 * availableParallelism() + 1), 1, 1000, errors),
    searchMaxIncluded: intVar(env, 'SEARCH_MAX_INCLUDED', 1000, 1, 100_000, errors),
    logLevel: env.LOG_LEVEL || (nodeEnv === 'test' ? 'warn' : 'info'),
    defaulted,
  };
  if (env.ENCRYPTION_KEYS) {
    if (env.ENCRYPTION_KEY) errors.push('Set ENCRYPTION_KEY or ENCRYPTION_KEYS, not both');
    for (const part of env.ENCRYPTION_KEYS.split(',')) {
      const m = /^\s*(\d{1,4}):(.+?)\s*$/.exec(part);
      if (!m || Number(m[1]) < 1) {
        errors.push('ENCRYPTION_KEYS must look like "2:<secret>,1:<secret>" (ids from 1, the active key first)');
        break;
      }
      if (m[2].length < 32) errors.push(`ENCRYPTION_KEYS: key ${m[1]} must be at least 32 characters`);
      if (config.encryptionKeys.some((k) => k.id === Number(m[1]))) errors.push(`ENCRYPTION_KEYS names key ${m[1]} twice`);
      config.encryptionKeys.push({ id: Number(m[1]), secret: m[2] });
    }
  } else {
    config.encryptionKeys = [{ id: 1, secret: secret('ENCRYPTION_KEY', 32) }];
  }
  config.encryptionKey = config.encryptionKeys[0]?.secret ?? '';
  if (config.blindIndexKey !== undefined && config.blindIndexKey.length < 32) errors.push('BLIND_INDEX_KEY must be at least 32 characters');
  const oidcVars = [env.OIDC_ISSUER, env.OIDC_AUDIENCE, env.OIDC_JWKS_URL];
  if (oidcVars.some(Boolean)) {
    if (!oidcVars.every(Boolean)) errors.push('OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL go together: set all three or none');
    else config.oidc = { issuer: env.OIDC_ISSUER as string, audience: env.OIDC_AUDIENCE as string, jwksUrl: urlVar(env, 'OIDC_JWKS_URL', '', ['https:', 'http:'], errors) };
  }
  if (!['all', 'writes', 'off'].includes(config.auditEvents)) errors.push('AUDIT_EVENTS must be all, writes or off');
  if (!['', 'true', 'false'].includes(env.SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS ?? '')) errors.push('SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS must be true or false');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(config.logLevel)) {
    errors.push(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent`);
  }
  if (errors.length) throw new ConfigError(`Invalid configuration:\n  - ${errors.join('\n  - ')}`);
  return config;
}

/** The name of the database in DATABASE_URL. */
export function databaseName(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, '')) || 'postgres';
}

/** A short fingerprint that identifies a key in logs without revealing it. */
export function keyFingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 8);
}
