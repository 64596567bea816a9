import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeMongoClient, ConfigurationError, ConnectionError, enableGracefulShutdown, getMongoClient, isServerlessMongoError, withMongo } from '../src/index.js';
import { mongo } from '../src/middy.js';
import { redactText, redactUri } from '../src/shared/logging/redact.js';
import { CaptureLogger, errorText } from './support/capture-logger.js';

const PASSWORD = 'Sup3r$ecret/Pa55';
const ENCODED = encodeURIComponent(PASSWORD);

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('configuration errors', () => {
  const saved = { ...process.env };
  beforeEach(() => {
    delete process.env.MONGODB_URI;
    delete process.env.MONGODB_DB_NAME;
  });
  afterEach(async () => {
    process.env = { ...saved };
    await closeMongoClient();
  });

  it('names MONGODB_URI when no connection string is configured', async () => {
    // Act
    const error = await rejectionOf(getMongoClient());

    // Assess
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ name: 'ConfigurationError', code: 'MISSING_URI', option: 'MONGODB_URI' });
    expect((error as Error).message).toMatch(/MONGODB_URI/);
    expect(isServerlessMongoError(error)).toBe(true);
  });

  it.each([
    ['a wrong scheme', `http://app:${ENCODED}@db.example.net/shop`, /must start with "mongodb:\/\/" or "mongodb\+srv:\/\/"/],
    ['an unescaped @ in the password', `mongodb://app:${PASSWORD}@x@db.example.net/shop`, /malformed: .*percent-encode/],
    ['a port on an SRV URI', `mongodb+srv://app:${ENCODED}@cluster0.example.net:27017/shop`, /mongodb\+srv URI cannot have port number/],
    ['a non-numeric port', `mongodb://app:${ENCODED}@db.example.net:port/shop`, /malformed/],
    ['an unknown URI option', `mongodb://app:${ENCODED}@db.example.net/shop?maxPoolSise=3`, /option maxPoolSise is not supported/],
  ])('explains a malformed URI (%s) without the password', async (_case, uri, reason) => {
    // Prepare
    process.env.MONGODB_URI = uri;

    // Act
    const error = await rejectionOf(getMongoClient());

    // Assess
    expect(error).toMatchObject({ name: 'ConfigurationError', code: 'INVALID_URI', option: 'MONGODB_URI' });
    expect((error as Error).message).toMatch(reason);
    expect((error as Error).message).toMatch(/from MONGODB_URI/);
    const text = errorText(error);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(ENCODED);
  });

  it('keeps the driver error as cause of a malformed URI', async () => {
    const error = await rejectionOf(getMongoClient({ uri: `mongodb://app:${ENCODED}@db.example.net/shop?w=banana&retryWrites=maybe` }));
    expect(error).toMatchObject({ code: 'INVALID_URI', option: 'uri' });
    expect((error as Error).cause).toMatchObject({ name: 'MongoParseError' });
    expect(errorText(error)).not.toContain(ENCODED);
  });

  it('names an unknown option key of getMongoClient and points driver options to clientOptions', async () => {
    const unknown = await rejectionOf(getMongoClient({ uri: 'mongodb://127.0.0.1/db', url: 'x' } as never));
    expect(unknown).toMatchObject({ code: 'UNKNOWN_OPTION', option: 'url' });
    expect((unknown as Error).message).toMatch(/Unknown option `url` passed to getMongoClient\(\)/);

    const misplaced = await rejectionOf(getMongoClient({ uri: 'mongodb://127.0.0.1/db', maxPoolSize: 3 } as never));
    expect((misplaced as Error).message).toMatch(/`maxPoolSize` is a MongoClient option: pass it as `clientOptions: \{ maxPoolSize: ... \}`/);

    const misspelled = await rejectionOf(getMongoClient({ uri: 'mongodb://127.0.0.1/db', dbname: 'x' } as never));
    expect((misspelled as Error).message).toMatch(/did you mean `dbName`\?/);
  });

  it('names an unknown MongoClient option and keeps the driver error as cause', async () => {
    const error = await rejectionOf(getMongoClient({ uri: 'mongodb://127.0.0.1/db', clientOptions: { maxPoolSise: 3 } as never }));
    expect(error).toMatchObject({ code: 'UNKNOWN_OPTION', option: 'maxPoolSise' });
    expect((error as Error).message).toMatch(/Unknown MongoClient option `maxPoolSise`/);
    expect((error as Error).cause).toMatchObject({ name: 'MongoParseError' });
  });

  it.each([
    [{ uri: 42 }, 'uri', /`uri` of getMongoClient\(\) must be a string \(the connection string\) or an object naming a run-time secret \(\{ secretId \} or \{ parameterName \}\), got a number/],
    [{ uri: '   ' }, 'uri', /empty string/],
    [{ uri: 'mongodb://h/db', dbName: 5 }, 'dbName', /`dbName` .* must be a string, got a number/],
    [{ uri: 'mongodb://h/db', dbName: 'my.db' }, 'dbName', /database name .* not valid/],
    [{ uri: 'mongodb://h/db', clientOptions: 'maxPoolSize=3' }, 'clientOptions', /must be a plain object, got a string/],
    [{ uri: 'mongodb://h/db', clientOptions: { maxPoolSize: '10' } }, 'maxPoolSize', /`maxPoolSize` .* must be a non-negative integer, got a string/],
    [{ uri: 'mongodb://h/db', clientOptions: { retryWrites: 'yes' } }, 'retryWrites', /must be a boolean, got a string/],
    [{ uri: 'mongodb://h/db', clientOptions: { appName: 7 } }, 'appName', /must be a string/],
    [{ uri: 'mongodb://h/db', clientOptions: { family: 5 } }, 'family', /Option 'family' must be 4 or 6/],
    [{ uri: 'mongodb://h/db', logger: console.log }, 'logger', /must be a logger/],
  ])('names the option and the expected type for %j', async (options, option, message) => {
    const error = await rejectionOf(getMongoClient(options as never));
    expect(error).toMatchObject({ name: 'ConfigurationError', option });
    expect((error as Error).message).toMatch(message);
  });

  it('checks middleware and wrapper options where they are created, at module scope', () => {
    expect(thrownBy(() => mongo({ sesion: false } as never))).toMatchObject({ code: 'UNKNOWN_OPTION', option: 'sesion' });
    expect((thrownBy(() => mongo({ sesion: false } as never)) as Error).message).toMatch(/passed to mongo\(\): did you mean `session`\?/);
    expect(thrownBy(() => mongo({ transaction: 'yes' } as never))).toMatchObject({ code: 'INVALID_OPTION', option: 'transaction' });
    expect(thrownBy(() => mongo({ session: false, transaction: true }))).toMatchObject({ code: 'INVALID_OPTION', option: 'transaction' });
    expect(thrownBy(() => withMongo(async () => 1, { session: 1 } as never))).toMatchObject({ code: 'INVALID_OPTION', option: 'session' });
    expect(thrownBy(() => withMongo(async () => 1, 'mongodb://h' as never))).toMatchObject({ code: 'INVALID_OPTION' });
    expect(thrownBy(() => mongo({ thaw: { probeAfter: 5 } } as never))).toMatchObject({ code: 'UNKNOWN_OPTION', option: 'probeAfter' });
    expect((thrownBy(() => mongo({ thaw: { probeAfter: 5 } } as never)) as Error).message).toMatch(/did you mean `probeAfterMs`\?/);
    expect(thrownBy(() => mongo({ thaw: { probeTimeoutMs: -1 } }))).toMatchObject({ code: 'INVALID_OPTION', option: 'thaw.probeTimeoutMs' });
    expect(thrownBy(() => mongo({ deadlineMarginMs: '500' } as never))).toMatchObject({ code: 'INVALID_OPTION', option: 'deadlineMarginMs' });
    expect(thrownBy(() => mongo({ prefetch: 'yes' } as never))).toMatchObject({ code: 'INVALID_OPTION', option: 'prefetch' });
    expect(thrownBy(() => enableGracefulShutdown({ timeoutMs: 'soon' } as never))).toMatchObject({ code: 'INVALID_OPTION', option: 'timeoutMs' });
    expect(thrownBy(() => enableGracefulShutdown({ registerExtensions: true } as never))).toMatchObject({ code: 'UNKNOWN_OPTION', option: 'registerExtensions' });
  });

  it('fails to connect within the selection timeout with a redacted error and logs it redacted', async () => {
    // Prepare: a port nothing listens on
    const logger = new CaptureLogger();
    const uri = `mongodb://app:${ENCODED}@127.0.0.1:9/shop`;

    // Act
    const error = await rejectionOf(getMongoClient({ uri, logger, clientOptions: { serverSelectionTimeoutMS: 300 } }));

    // Assess
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ code: 'CONNECT_FAILED' });
    expect((error as Error).message).toMatch(/Could not connect to MongoDB at mongodb:\/\/app:\*\*\*\*@127\.0\.0\.1:9\/shop within serverSelectionTimeoutMS=300/);
    expect((error as Error).cause).toMatchObject({ name: 'MongoServerSelectionError' });
    expect(errorText(error)).not.toContain(ENCODED);
    expect(logger.events()).toEqual(['client.connect.failed']);
    for (const line of logger.lines()) {
      expect(line).not.toContain(ENCODED);
      expect(line).not.toContain(PASSWORD);
    }
  });
});

describe('redaction', () => {
  it.each([
    ['mongodb://app:pa55word@h1:27017,h2/db?replicaSet=rs0', 'mongodb://app:****@h1:27017,h2/db?replicaSet=rs0'],
    ['mongodb+srv://app:p%40ss%2Fword@cluster0.example.net/db', 'mongodb+srv://app:****@cluster0.example.net/db'],
    ['mongodb://app@h/db?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok3n', 'mongodb://app@h/db?authMechanism=MONGODB-AWS&authMechanismProperties=****'],
    ['mongodb://h/db', 'mongodb://h/db'],
    ['mongodb://[::1]:27017/db', 'mongodb://[::1]:27017/db'],
  ])('redacts %s', (uri, expected) => {
    expect(redactUri(uri)).toBe(expected);
  });

  it('redacts URIs inside text and every spelling of a known secret', () => {
    const text = `failed mongodb://u:p%40ss@h/db with password p@ss (encoded p%40ss)`;
    expect(redactText(text, ['p%40ss', 'p@ss'])).toBe('failed mongodb://u:****@h/db with password **** (encoded ****)');
  });
});
