/**
 * Building and connecting a MongoClient from a resolved configuration, with the errors users see: a malformed
 * URI or option (no I/O yet), and a failed connect that names the redacted URI and what to check.
 */
import { MongoClient } from 'mongodb';
import { ConfigurationError, ConnectionError, ErrorCodes } from '../../shared/errors.js';
import { emit } from '../../shared/logging/emit.js';
import { URI_ENV } from '../config/defaults.js';
import { classifyDriverError, missingDependencyError } from '../config/driver-errors.js';
import type { ResolvedClientConfig } from '../config/resolve.js';
import { hasMongoScheme } from '../config/uri.js';

/**
 * Builds the MongoClient (no I/O: the driver parses options in its constructor).
 * @throws {ConfigurationError} INVALID_URI, UNKNOWN_OPTION or INVALID_OPTION, with the driver's error as `cause`
 */
export function createClient(config: ResolvedClientConfig): MongoClient {
  if (!hasMongoScheme(config.uri)) {
    throw new ConfigurationError(
      ErrorCodes.INVALID_URI,
      `The MongoDB connection string from ${config.uriSource} is malformed: it must start with "mongodb://" or "mongodb+srv://" (${schemeOf(config.uri)})`,
      { option: config.uriSource === URI_ENV ? URI_ENV : 'uri', secrets: config.secrets },
    );
  }
  try {
    return new (config.MongoClient ?? MongoClient)(config.uri, config.clientOptions);
  } catch (error) {
    throw classifyDriverError(error, config);
  }
}

/**
 * The error of a failed connect, logged as `client.connect.failed`: it names the redacted URI and the
 * selection timeout, keeps the driver's error as cause, and says what to check (`check`, per platform).
 */
export function connectFailure(config: ResolvedClientConfig, client: MongoClient, error: unknown, startedAt: number, check: string): ConnectionError | ConfigurationError {
  const failure = missingDependencyError(error, config) ?? new ConnectionError(
    ErrorCodes.CONNECT_FAILED,
    `Could not connect to MongoDB at ${config.redactedUri} within serverSelectionTimeoutMS=${client.options.serverSelectionTimeoutMS}: ${error instanceof Error ? error.message : String(error)}. Check that ${check}`,
    { cause: error, secrets: config.secrets },
  );
  emit(config.logger, 'error', 'client.connect.failed', 'Could not connect to MongoDB', {
    connectDurationMs: Math.round(performance.now() - startedAt),
    uri: config.redactedUri,
    error: failure,
  }, config.secrets);
  return failure;
}

/**
 * What a malformed connection string starts with, for the error message: its scheme only (`http://`), never
 * anything after it (a string without a scheme may start with a user name and password).
 */
function schemeOf(uri: string): string {
  const scheme = /^([a-z][a-z0-9+.-]{0,20}):\/\//i.exec(uri)?.[1];
  return scheme === undefined ? 'it has no scheme' : `its scheme is "${scheme}://"`;
}
