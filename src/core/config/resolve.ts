/**
 * Resolution: the caller's options, the adapter's platform inputs and the environment become the one
 * configuration the client cache and the invocation lifecycle use. Nothing changes a configuration once resolved.
 */
import type { MongoClient, MongoClientOptions } from 'mongodb';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';
import { getDefaultLogger, type LoggerLike } from '../../shared/logging/emit.js';
import { addSecret, redactUri, secretsOfUri } from '../../shared/logging/redact.js';
import { expectOptionsObject, rejectUnknownKeys } from '../../shared/validation.js';
import { stableKey } from './cache-key.js';
import { DB_NAME_ENV, FUNCTION_NAME_ENV, LAMBDA_CLIENT_DEFAULTS, URI_ENV } from './defaults.js';
import { managedInstancesDefaults, managedInstancesMode, type ManagedInstancesMode } from './managed-instances.js';
import { CLIENT_CONFIG_KEYS, driverOptionHint, validateClientConfig, validateDbName, type MongoClientConfig } from './schema.js';
import { isConnectionSecret, secretSourceOf, type FetchedSecret } from './secret.js';
import { databaseOfUri, hasMongoScheme, queryKeysOf } from './uri.js';

/** A place `uri` and `dbName` are read from when the options do not give them (`process.env`, a Worker's bindings). */
export interface EnvironmentSource {
  /** The value of a variable, if set. */
  read(name: string): unknown;
  /** How the variable is named in messages: `MONGODB_URI`, "the MONGODB_URI binding". */
  describe(name: string): string;
}

/** What an adapter adds to resolution, stated as inputs: its platform's defaults, its cache namespace, its sources. */
export interface PlatformInputs {
  /** Clients of two namespaces are never shared, even for equal options. */
  readonly namespace: string;
  /** Client options over the core's defaults: under the URI's and the caller's, like the defaults. */
  readonly clientDefaults?: Readonly<Record<string, unknown>>;
  /** Client options over everything; the adapter's plan checks that the caller does not ask for another value. */
  readonly requiredClientOptions?: Readonly<Record<string, unknown>>;
  /** Where `uri` and `dbName` come from when not in the options, first match wins. @default process.env */
  readonly environment?: readonly EnvironmentSource[];
  /**
   * The MongoClient class the cache builds clients with. An adapter whose library bundles its own copy of the
   * driver (mongoose pins one) passes that copy's class, so the library accepts the client as its own.
   * @default the `mongodb` package's MongoClient
   */
  readonly MongoClient?: MongoClientClass;
}

/** A MongoClient constructor: the `mongodb` package's, or the one of another copy of the driver. */
export type MongoClientClass = new (uri: string, options?: MongoClientOptions) => MongoClient;

/** `process.env`. */
export const PROCESS_ENV: EnvironmentSource = {
  read: (name) => process.env[name],
  describe: (name) => name,
};

/** The core's platform (Lambda and plain Node.js): its defaults are {@link LAMBDA_CLIENT_DEFAULTS}. */
export const CORE_PLATFORM: PlatformInputs = { namespace: 'core' };

/** What {@link resolveClientConfig} returns: everything needed to find or build the cached client. */
export interface ResolvedClientConfig {
  readonly uri: string;
  /** Where the URI came from, for error messages: the `uri` option, `MONGODB_URI`, a binding. */
  readonly uriSource: string;
  readonly redactedUri: string;
  readonly dbName: string | undefined;
  /** The options handed to `new MongoClient`: defaults not set in the URI, then the caller's, then the platform's required ones. */
  readonly clientOptions: MongoClientOptions;
  readonly logger: LoggerLike;
  /** Strings to scrub from logs and errors (passwords, tokens). */
  readonly secrets: readonly string[];
  /** Equal configurations share one cached client. */
  readonly cacheKey: string;
  /** Lambda Managed Instances' multi-concurrent mode, when this process runs under it. */
  readonly managedInstances: ManagedInstancesMode | undefined;
  /** The class the client is built with, when not the `mongodb` package's (see {@link PlatformInputs.MongoClient}). */
  readonly MongoClient?: MongoClientClass | undefined;
  /** The run-time secret the URI (or its password) came from, and the value it was resolved with. */
  readonly secret?: { readonly description: string; readonly fetched: FetchedSecret } | undefined;
}

/**
 * Validates `options`, fills in the environment and the defaults.
 * @throws {ConfigurationError} for a missing URI, an unknown key or a wrong type
 */
export function resolveClientConfig(options: MongoClientConfig | undefined, where = 'getMongoClient()', platform: PlatformInputs = CORE_PLATFORM, fetched?: FetchedSecret): ResolvedClientConfig {
  validateClientOptions(options, where);
  return resolveValidated(options ?? {}, platform, fetched);
}

/** The key and type checks of {@link resolveClientConfig}. @throws {ConfigurationError} */
export function validateClientOptions(options: MongoClientConfig | undefined, where: string): void {
  expectOptionsObject(where, options);
  const input = (options ?? {}) as Record<string, unknown>;
  rejectUnknownKeys(where, input, CLIENT_CONFIG_KEYS, driverOptionHint);
  validateClientConfig(where, input, true);
}

/**
 * {@link resolveClientConfig} without the key and type checks, for callers that already made them (a plan).
 * @param fetched the value of the run-time secret, when `options.uri` names one (see {@link secretSourceOf})
 * @throws {ConfigurationError} INVALID_SECRET: the secret's value holds no usable connection string
 */
export function resolveValidated(options: MongoClientConfig, platform: PlatformInputs = CORE_PLATFORM, fetched?: FetchedSecret): ResolvedClientConfig {
  const environment = platform.environment ?? [PROCESS_ENV];
  const secretUri = isConnectionSecret(options.uri) ? uriFromSecret(options, environment, fetched) : undefined;
  const fromEnvironment = options.uri === undefined ? readVariable(environment, URI_ENV) : undefined;
  const uri = secretUri?.uri ?? (typeof options.uri === 'string' ? options.uri : fromEnvironment?.value);
  if (uri === undefined) {
    throw new ConfigurationError(
      ErrorCodes.MISSING_URI,
      `No MongoDB connection string: set the ${URI_ENV} environment variable or pass the \`uri\` option (mongodb://user:password@host/database or mongodb+srv://...)`,
      { option: URI_ENV },
    );
  }
  const uriSource = secretUri?.source ?? fromEnvironment?.source ?? 'the `uri` option';
  const secrets = secretsOfUri(uri);
  for (const secret of secretUri?.secrets ?? []) addSecret(secrets, secret);
  const userOptions = (options.clientOptions ?? {}) as Record<string, unknown>;
  const auth = userOptions.auth as { password?: unknown } | undefined;
  if (typeof auth?.password === 'string') addSecret(secrets, auth.password);

  let dbName = options.dbName;
  if (dbName === undefined) {
    const named = readVariable(environment, DB_NAME_ENV);
    if (named) validateDbName(named.value, named.source, DB_NAME_ENV);
    dbName = named?.value ?? databaseOfUri(uri);
  }

  const managedInstances = managedInstancesMode();
  const clientOptions = {
    ...defaultsNotIn(uri, { ...LAMBDA_CLIENT_DEFAULTS, ...managedInstancesDefaults(managedInstances), ...functionAppName(), ...platform.clientDefaults }),
    ...userOptions,
    ...platform.requiredClientOptions,
  } as MongoClientOptions;
  return {
    uri,
    uriSource,
    redactedUri: redactUri(uri),
    dbName,
    clientOptions,
    logger: options.logger ?? getDefaultLogger(),
    secrets,
    cacheKey: `${platform.namespace}\u0000${uri}\u0000${stableKey(userOptions)}`,
    managedInstances,
    MongoClient: platform.MongoClient,
    secret: secretUri && { description: secretUri.description, fetched: secretUri.fetched },
  };
}

/**
 * The connection string a fetched secret gives: its value (or its JSON `field`) when that is a connection string,
 * else the password put into the connection string of `MONGODB_URI`. Messages name the secret, never its value.
 */
function uriFromSecret(
  options: MongoClientConfig,
  environment: readonly EnvironmentSource[],
  fetched: FetchedSecret | undefined,
): { uri: string; source: string; description: string; secrets: string[]; fetched: FetchedSecret } {
  const source = secretSourceOf(options.uri as Parameters<typeof secretSourceOf>[0]);
  if (!fetched) throw new Error(`serverless-mongodb: ${source.description} was resolved before it was fetched`);
  const secrets = [fetched.value];
  const invalid = (problem: string) =>
    new ConfigurationError(ErrorCodes.INVALID_SECRET, `The MongoDB connection secret from ${source.description}${fetched.version ? ` (version ${fetched.version})` : ''} ${problem}`, { option: 'uri', secrets });
  let value = fetched.value.trim();
  if (source.field !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      // No cause: the parser's message quotes the text, which is the secret.
      throw invalid(`is not JSON, yet \`uri.field\` ("${source.field}") is set: store a JSON object, or leave \`field\` out to use the whole value`);
    }
    const field = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>)[source.field] : undefined;
    if (typeof field !== 'string' || field.trim() === '') {
      throw invalid(`has no text field "${source.field}"${parsed !== null && typeof parsed === 'object' ? ` (its fields: ${Object.keys(parsed).join(', ') || 'none'})` : ''}`);
    }
    value = field.trim();
    secrets.push(value);
  }
  const description = source.description;
  const label = `${description}${source.field === undefined ? '' : ` (field "${source.field}")`}`;
  if (hasMongoScheme(value)) return { uri: value, source: label, description, secrets, fetched };
  // Only the password: it goes into the connection string of MONGODB_URI, whose user it authenticates.
  const template = readVariable(environment, URI_ENV);
  if (!template) {
    throw invalid(`is not a connection string (mongodb:// or mongodb+srv://), so it is taken as the password, but ${URI_ENV} is not set: set ${URI_ENV} to the connection string with the user name (mongodb+srv://app@cluster0.example.net/shop), or store the whole connection string in the secret`);
  }
  const withUser = /^(mongodb(?:\+srv)?:\/\/)([^:@/?]+)(?::[^@]*)?@/i.exec(template.value);
  if (!withUser) {
    throw invalid(`is taken as the password, but the connection string in ${template.source} names no user: write it as mongodb+srv://USER@host/...`);
  }
  const uri = `${withUser[1]}${withUser[2]}:${encodeURIComponent(value)}@${template.value.slice(withUser[0].length)}`;
  return { uri, source: `${template.source} with the password from ${label}`, description, secrets, fetched };
}

/** The first non-blank value of `name` among the sources, trimmed, and how it is named. */
function readVariable(environment: readonly EnvironmentSource[], name: string): { value: string; source: string } | undefined {
  for (const source of environment) {
    const value = source.read(name);
    if (typeof value === 'string' && value.trim() !== '') return { value: value.trim(), source: source.describe(name) };
  }
  return undefined;
}

/** Lambda's function name becomes the driver's `appName` (seen in server logs and Atlas metrics). */
function functionAppName(): { appName?: string } {
  const functionName = process.env[FUNCTION_NAME_ENV];
  return functionName ? { appName: functionName } : {};
}

/** The defaults minus those the URI sets itself (URI options are case-insensitive). */
function defaultsNotIn(uri: string, defaults: Record<string, unknown>): Record<string, unknown> {
  const inUri = new Set(queryKeysOf(uri).map((key) => key.toLowerCase()));
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(defaults)) if (!inUri.has(key.toLowerCase())) kept[key] = value;
  return kept;
}
