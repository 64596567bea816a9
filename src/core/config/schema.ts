/**
 * The client options every adapter accepts (`uri`, `dbName`, `clientOptions`, `logger`) and their validation:
 * an unknown key or a wrong type becomes a {@link ConfigurationError} naming the option and the fix.
 */
import type { MongoClientOptions } from 'mongodb';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';
import type { LoggerLike } from '../../shared/logging/emit.js';
import { describeType, expectOption } from '../../shared/validation.js';
import { LAMBDA_CLIENT_DEFAULTS, URI_ENV } from './defaults.js';
import { isConnectionSecret, validateConnectionSecret, type ConnectionSecret } from './secret.js';

/** Options of {@link getMongoClient}, also accepted by `mongo()` and `withMongo()`. */
export interface MongoClientConfig {
  /**
   * The connection string, `mongodb://` or `mongodb+srv://`; or where to fetch it at run time (`getMongoClient()`,
   * `mongo()` and `withMongo()`): `{ secretId }` (AWS Secrets Manager) or `{ parameterName }` (an SSM SecureString),
   * with `field` for a JSON secret. A value that is not a connection string is the password of the one in
   * `MONGODB_URI`. See {@link ConnectionSecret} and the README's credentials section.
   * @default process.env.MONGODB_URI
   */
  uri?: string | ConnectionSecret;
  /**
   * The database exposed as `context.mongo.db`.
   * @default process.env.MONGODB_DB_NAME, else the database in the URI's path
   */
  dbName?: string;
  /**
   * MongoClient options, applied over the Lambda defaults ({@link LAMBDA_CLIENT_DEFAULTS}). An option written in
   * the URI also wins over the defaults; between the URI and `clientOptions`, the driver lets `clientOptions` win.
   * Options are compared by value to find the cached client (Buffers by content); a function-valued option
   * (`checkServerIdentity`, a custom `lookup`) counts by reference: pass the same function each time.
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

/**
 * Checks the shape of the client part of an options object (keys are checked by the caller).
 * @param secretUri whether this entry point takes `uri` as a run-time secret reference (an object)
 */
export function validateClientConfig(where: string, options: Record<string, unknown>, secretUri = false): void {
  if (isConnectionSecret(options.uri)) {
    if (!secretUri) {
      throw new ConfigurationError(
        ErrorCodes.INVALID_OPTION,
        `Option \`uri\` of ${where} must be a connection string: a run-time secret ({ secretId } or { parameterName }) is taken by getMongoClient(), mongo() and withMongo() of serverless-mongodb`,
        { option: 'uri' },
      );
    }
    validateConnectionSecret(where, options.uri as unknown as Record<string, unknown>);
  } else if (secretUri && options.uri !== undefined && typeof options.uri !== 'string') {
    throw new ConfigurationError(
      ErrorCodes.INVALID_OPTION,
      `Option \`uri\` of ${where} must be a string (the connection string) or an object naming a run-time secret ({ secretId } or { parameterName }), got ${describeType(options.uri)}`,
      { option: 'uri' },
    );
  } else expectOption(where, 'uri', options.uri, 'string');
  expectOption(where, 'dbName', options.dbName, 'string');
  expectOption(where, 'clientOptions', options.clientOptions, 'object');
  expectOption(where, 'logger', options.logger, 'logger');
  if (typeof options.uri === 'string' && options.uri.trim() === '') {
    throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `Option \`uri\` of ${where} is an empty string: pass a connection string or leave it out to use ${URI_ENV}`, { option: 'uri' });
  }
  if (typeof options.dbName === 'string') validateDbName(options.dbName, '`dbName` option', 'dbName');
  const clientOptions = options.clientOptions as Record<string, unknown> | undefined;
  if (clientOptions) {
    for (const [key, value] of Object.entries(LAMBDA_CLIENT_DEFAULTS)) {
      expectOption(`${where} clientOptions`, key, clientOptions[key], typeof value === 'number' ? 'non-negative integer' : 'boolean');
    }
    expectOption(`${where} clientOptions`, 'appName', clientOptions.appName, 'string');
  }
}

/**
 * @param source where the name came from, for the message: "`dbName` option", `MONGODB_DB_NAME`, a binding
 * @param option the error's `option`: `dbName` or the variable's name
 */
export function validateDbName(name: string, source: string, option: string): void {
  if (name === '' || /[/\\. "$*<>:|?\u0000]/.test(name) || Buffer.byteLength(name) > 63) {
    throw new ConfigurationError(
      ErrorCodes.INVALID_OPTION,
      `The database name from ${source} is not valid: it must be 1-63 bytes without any of / \\ . " $ * < > : | ? or spaces`,
      { option },
    );
  }
}
