/**
 * Resolves what a client needs (URI, database name, MongoClient options, logger) from the caller's
 * options and the environment, validates it, and builds the MongoClient with clear errors.
 */
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { DB_NAME_ENV, FUNCTION_NAME_ENV, LAMBDA_CLIENT_DEFAULTS, URI_ENV } from './defaults.js';
import { ConfigurationError, ErrorCodes } from './errors.js';
import { getDefaultLogger, type LoggerLike } from './logging.js';
import { expectOption, expectOptionsObject, rejectUnknownKeys } from './options.js';
import { addSecret, redactUri, secretsOfUri } from './redact.js';

/** Options of {@link getMongoClient}, also accepted by `mongo()` and `withMongo()`. */
export interface MongoClientConfig {
  /**
   * The connection string, `mongodb://` or `mongodb+srv://`.
   * @default process.env.MONGODB_URI
   */
  uri?: string;
  /**
   * The database exposed as `context.mongo.db`.
   * @default process.env.MONGODB_DB_NAME, else the database in the URI's path
   */
  dbName?: string;
  /**
   * MongoClient options, applied over the Lambda defaults ({@link LAMBDA_CLIENT_DEFAULTS}).
   * Options written in the URI also win over the defaults.
   * @default {}
   */
  clientOptions?: MongoClientOptions;
  /**
   * Where lifecycle records go: a Powertools `Logger` or any {@link LoggerLike}.
   * @default a Powertools Logger with serviceName `serverless-mongodb`
   */
  logger?: LoggerLike;
}

export const CLIENT_CONFIG_KEYS = ['uri', 'dbName', 'clientOptions', 'logger'] as const;

/** What {@link resolveClientConfig} returns: everything needed to find or build the cached client. */
export interface ResolvedClientConfig {
  uri: string;
  /** Where the URI came from, for error messages: the `uri` option or `MONGODB_URI`. */
  uriSource: string;
  redactedUri: string;
  dbName: string | undefined;
  /** The options handed to `new MongoClient`: defaults not set in the URI, then the caller's. */
  clientOptions: MongoClientOptions;
  logger: LoggerLike;
  /** Strings to scrub from logs and errors (passwords, tokens). */
  secrets: string[];
  /** Equal configurations share one cached client. */
  cacheKey: string;
}

/** Driver options users often put at the top level by mistake; the error points them to `clientOptions`. */
const COMMON_DRIVER_OPTIONS = [
  ...Object.keys(LAMBDA_CLIENT_DEFAULTS),
  'appName',
  'socketTimeoutMS',
  'heartbeatFrequencyMS',
  'waitQueueTimeoutMS',
  'readPreference',
  'writeConcern',
  'w',
  'tls',
  'auth',
  'authSource',
  'authMechanism',
  'replicaSet',
  'directConnection',
  'serverMonitoringMode',
  'timeoutMS',
];

export function driverOptionHint(key: string): string | undefined {
  return COMMON_DRIVER_OPTIONS.includes(key)
    ? `\`${key}\` is a MongoClient option: pass it as \`clientOptions: { ${key}: ... }\``
    : undefined;
}

/** Checks the shape of the client part of an options object (keys are checked by the caller). */
export function validateClientConfig(where: string, options: Record<string, unknown>): void {
  expectOption(where, 'uri', options.uri, 'string');
  expectOption(where, 'dbName', options.dbName, 'string');
  expectOption(where, 'clientOptions', options.clientOptions, 'object');
  expectOption(where, 'logger', options.logger, 'logger');
  if (typeof options.uri === 'string' && options.uri.trim() === '') {
    throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `Option \`uri\` of ${where} is an empty string: pass a connection string or leave it out to use ${URI_ENV}`, { option: 'uri' });
  }
  if (typeof options.dbName === 'string') validateDbName(options.dbName, '`dbName` option');
  const clientOptions = options.clientOptions as Record<string, unknown> | undefined;
  if (clientOptions) {
    for (const [key, value] of Object.entries(LAMBDA_CLIENT_DEFAULTS)) {
      expectOption(`${where} clientOptions`, key, clientOptions[key], typeof value === 'number' ? 'non-negative integer' : 'boolean');
    }
    expectOption(`${where} clientOptions`, 'appName', clientOptions.appName, 'string');
  }
}

/**
 * Validates `options`, fills in the environment and the Lambda defaults.
 * @throws {ConfigurationError} for a missing URI, an unknown key or a wrong type
 */
export function resolveClientConfig(options: MongoClientConfig | undefined, where = 'getMongoClient()'): ResolvedClientConfig {
  expectOptionsObject(where, options);
  const input = (options ?? {}) as Record<string, unknown>;
  rejectUnknownKeys(where, input, CLIENT_CONFIG_KEYS, driverOptionHint);
  validateClientConfig(where, input);
  return resolveValidated(options ?? {});
}

/** {@link resolveClientConfig} without the key and type checks, for callers that already made them. */
export function resolveValidated(options: MongoClientConfig): ResolvedClientConfig {
  const envUri = process.env[URI_ENV];
  const uri = options.uri ?? (envUri && envUri.trim() !== '' ? envUri.trim() : undefined);
  if (uri === undefined) {
    throw new ConfigurationError(
      ErrorCodes.MISSING_URI,
      `No MongoDB connection string: set the ${URI_ENV} environment variable or pass the \`uri\` option (mongodb://user:password@host/database or mongodb+srv://...)`,
      { option: URI_ENV },
    );
  }
  const uriSource = options.uri === undefined ? URI_ENV : 'the `uri` option';
  const secrets = secretsOfUri(uri);
  const userOptions = (options.clientOptions ?? {}) as Record<string, unknown>;
  const auth = userOptions.auth as { password?: unknown } | undefined;
  if (typeof auth?.password === 'string') addSecret(secrets, auth.password);

  const envDbName = process.env[DB_NAME_ENV];
  let dbName = options.dbName;
  if (dbName === undefined && envDbName && envDbName.trim() !== '') {
    dbName = envDbName.trim();
    validateDbName(dbName, DB_NAME_ENV);
  }
  dbName ??= databaseOfUri(uri);

  const clientOptions = { ...defaultsNotIn(uri), ...userOptions } as MongoClientOptions;
  return {
    uri,
    uriSource,
    redactedUri: redactUri(uri),
    dbName,
    clientOptions,
    logger: options.logger ?? getDefaultLogger(),
    secrets,
    cacheKey: `${uri}\u0000${stableKey(userOptions)}`,
  };
}

/**
 * Builds the MongoClient (no I/O: the driver parses options in its constructor).
 * @throws {ConfigurationError} INVALID_URI, UNKNOWN_OPTION or INVALID_OPTION, with the driver's error as `cause`
 */
export function createClient(config: ResolvedClientConfig): MongoClient {
  if (!/^mongodb(\+srv)?:\/\//i.test(config.uri)) {
    throw new ConfigurationError(
      ErrorCodes.INVALID_URI,
      `The MongoDB connection string from ${config.uriSource} is malformed: it must start with "mongodb://" or "mongodb+srv://" (got "${redactUri(config.uri).slice(0, 12)}...")`,
      { option: config.uriSource === URI_ENV ? URI_ENV : 'uri', secrets: config.secrets },
    );
  }
  try {
    return new MongoClient(config.uri, config.clientOptions);
  } catch (error) {
    throw classifyDriverError(error, config);
  }
}

function classifyDriverError(error: unknown, config: ResolvedClientConfig): ConfigurationError {
  const secrets = config.secrets;
  // The driver lower-cases option names in its messages; give them back the caller's spelling.
  const userKeys = [...Object.keys(config.clientOptions), ...queryKeysOf(config.uri)];
  const reason = (error instanceof Error ? error.message : String(error)).replace(
    /option (\S+) is not supported/i,
    (_match, key: string) => `option ${spellingOf(key, userKeys)} is not supported`,
  );
  let uriIsValid = true;
  try {
    new MongoClient(config.uri);
  } catch {
    uriIsValid = false;
  }
  if (!uriIsValid) {
    return new ConfigurationError(
      ErrorCodes.INVALID_URI,
      `The MongoDB connection string from ${config.uriSource} is malformed: ${reason}. Expected mongodb:// or mongodb+srv:// followed by user:password@host[:port]/database?options, with special characters in the user name and password percent-encoded (e.g. "@" as %40)`,
      { option: config.uriSource === URI_ENV ? URI_ENV : 'uri', cause: error, secrets },
    );
  }
  const unknown = /option (\S+) is not supported/i.exec(reason)?.[1];
  if (unknown) {
    return new ConfigurationError(
      ErrorCodes.UNKNOWN_OPTION,
      `Unknown MongoClient option \`${unknown}\` in clientOptions: the mongodb driver does not support it; check its spelling against MongoClientOptions`,
      { option: unknown, cause: error, secrets },
    );
  }
  const option = /Expected (\w+) to be|Option '(\w+)'|^(\w+) must/i.exec(reason)?.slice(1).find(Boolean);
  return new ConfigurationError(ErrorCodes.INVALID_OPTION, `Invalid MongoClient option${option ? ` \`${option}\`` : ''} in clientOptions: ${reason}`, {
    ...(option ? { option } : {}),
    cause: error,
    secrets,
  });
}

function spellingOf(key: string, candidates: readonly string[]): string {
  return candidates.find((candidate) => candidate.toLowerCase() === key.toLowerCase()) ?? key;
}

/** The Lambda defaults minus those the URI sets itself (URI options are case-insensitive). */
function defaultsNotIn(uri: string): Record<string, unknown> {
  const inUri = new Set(queryKeysOf(uri).map((key) => key.toLowerCase()));
  const defaults: Record<string, unknown> = { ...LAMBDA_CLIENT_DEFAULTS };
  const functionName = process.env[FUNCTION_NAME_ENV];
  if (functionName) defaults.appName = functionName;
  for (const key of Object.keys(defaults)) if (inUri.has(key.toLowerCase())) delete defaults[key];
  return defaults;
}

function queryKeysOf(uri: string): string[] {
  const query = uri.indexOf('?', uri.lastIndexOf('@') + 1);
  if (query === -1) return [];
  return uri
    .slice(query + 1)
    .split('&')
    .map((pair) => pair.split('=')[0] ?? '')
    .filter(Boolean);
}

/** The database named in the URI's path, if any. */
export function databaseOfUri(uri: string): string | undefined {
  const schemeEnd = uri.indexOf('://');
  if (schemeEnd === -1) return undefined;
  const at = uri.lastIndexOf('@');
  const authorityStart = at > schemeEnd ? at + 1 : schemeEnd + 3;
  const slash = uri.indexOf('/', authorityStart);
  if (slash === -1) return undefined;
  const query = uri.indexOf('?', slash);
  const path = uri.slice(slash + 1, query === -1 ? undefined : query);
  if (path === '') return undefined;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function validateDbName(name: string, source: string): void {
  if (name === '' || /[/\\. "$*<>:|?\u0000]/.test(name) || Buffer.byteLength(name) > 63) {
    throw new ConfigurationError(
      ErrorCodes.INVALID_OPTION,
      `The database name from ${source} is not valid: it must be 1-63 bytes without any of / \\ . " $ * < > : | ? or spaces`,
      { option: source.startsWith('`') ? 'dbName' : source },
    );
  }
}

const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;

/** A stable string for an options object: JSON for plain data, identity for functions and class instances. */
export function stableKey(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'function') return `#fn${identity(value)}`;
    return JSON.stringify(value) ?? String(value);
  }
  if (Array.isArray(value)) return `[${value.map(stableKey).join(',')}]`;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return `#obj${identity(value)}`;
  const entries = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${stableKey((value as Record<string, unknown>)[key])}`);
  return `{${entries.join(',')}}`;
}

function identity(value: object): number {
  let id = objectIds.get(value);
  if (id === undefined) {
    id = nextObjectId++;
    objectIds.set(value, id);
  }
  return id;
}
