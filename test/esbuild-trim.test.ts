// The trims of `serverless-mongodb/esbuild` change how the driver is loaded, not what it does: the driver bundled
// with them parses every connection string (and refuses every bad one) exactly as the driver bundled plainly, and
// the deferred modules still work when first used.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, posix } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFERRED_DRIVER_MODULES, LAMBDA_EXTERNALS, lambdaBundleOptions } from '../src/esbuild.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const require = createRequire(import.meta.url);
const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, '.tmp', 'esbuild-trim-test', String(process.pid));

/** What each bundle exports: the driver's parse of a connection string, and the driver itself. */
const ENTRY = `
import * as driver from 'mongodb';

const plain = (value, seen = new Set()) => {
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? \`[function \${value.name}]\` : typeof value === 'bigint' ? String(value) : value;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (value instanceof Promise) return '[promise]';
  if (Buffer.isBuffer(value)) return value.toString('hex');
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, item]) => [key, plain(item, seen)]));
  if (Array.isArray(value)) return value.map((item) => plain(item, seen));
  if (typeof value.toHostPort === 'function') return String(value);
  return Object.fromEntries(Object.entries(value).filter(([key]) => !key.startsWith('__')).map(([key, item]) => [key, plain(item, seen)]));
};

/** The options the driver derives from a connection string, or the error it throws. */
export function parse(uri) {
  try {
    const client = new driver.MongoClient(uri);
    const { metadata, extendedMetadata, mongoLoggerOptions, mongodbLogPath, ...options } = client.options;
    return { options: plain(options) };
  } catch (error) {
    return { error: { name: error.name, message: error.message } };
  }
}

export const exportNames = Object.keys(driver).sort();
export { driver };
`;

/** Connection strings users write, and ones the driver must refuse. */
const URIS = [
  'mongodb://localhost',
  'mongodb://127.0.0.1:27017/app',
  'mongodb://app:s3cret@db.example.com/shop?authSource=admin',
  // credentials with special characters, percent-encoded as they must be
  'mongodb://us%40er:p%40ss%3Aw%2Fo%3Frd%23%25@db.example.com/shop',
  'mongodb://user:%E2%82%AC%C3%A9%F0%9F%98%80@db.example.com/',
  "mongodb://user:p!$&'()*+,;=~x@db.example.com/",
  'mongodb://user:pa%20ss@db.example.com/',
  'mongodb://user:@db.example.com/',
  'mongodb://CN%3Dclient%2COU%3Dapps@db.example.com/?authMechanism=MONGODB-X509&tls=true',
  'mongodb:///?authSource=%24external&authMechanism=MONGODB-AWS',
  'mongodb://db.example.com/?authSource=%24external&authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:abc%2Bdef%2F%3D',
  // options
  'mongodb://a.example.com:27017,b.example.com:27018,c.example.com/db?replicaSet=rs0&readPreference=secondaryPreferred&readPreferenceTags=dc:ny,rack:1&readPreferenceTags=&maxStalenessSeconds=120&w=majority&journal=true&wtimeoutMS=2500&retryWrites=false&maxPoolSize=7&appName=my%20app&compressors=zlib&zlibCompressionLevel=4',
  'mongodb://db.example.com/?REPLICASET=rs0&ReadPreference=nearest&readConcernLevel=majority&heartbeatFrequencyMS=15000&socketTimeoutMS=0&directConnection=false',
  'mongodb://db.example.com/?tls=true&tlsAllowInvalidHostnames=true&tlsCAFile=%2Fetc%2Fssl%2Fca.pem&serverSelectionTimeoutMS=1500&connectTimeoutMS=2000',
  'mongodb://db.example.com/my%20db?maxIdleTimeMS=60000&minPoolSize=0&loadBalanced=false',
  // SRV
  'mongodb+srv://user:pass@cluster0.example.mongodb.net/shop?retryWrites=true&w=majority&appName=Cluster0',
  'mongodb+srv://cluster0.example.mongodb.net/?srvServiceName=custom&srvMaxHosts=2',
  'mongodb+srv://cluster0.example.mongodb.net/?authSource=%24external&authMechanism=MONGODB-AWS',
  // IPv6 hosts, a Unix domain socket
  'mongodb://[::1]:27017/app',
  'mongodb://[2001:db8::1]:27018,[::1],127.0.0.1:27019/?replicaSet=rs0',
  'mongodb://user:pass@[2001:db8::8a2e:370:7334]/admin',
  'mongodb://%2Ftmp%2Fmongodb-27017.sock/app',
  // refused
  'mongodb://us@er:pass@db.example.com/',
  'mongodb://user:pa:ss@db.example.com/',
  'mongodb://user:pa@ss@db.example.com/',
  'mongodb://user:%E0%A4%A@db.example.com/',
  'mongodb://db.example.com:99999/',
  'mongodb://db.example.com:port/',
  'mongodb://[::1/',
  'mongodb+srv://cluster0.example.mongodb.net:27017/',
  'mongodb+srv://a.example.com,b.example.com/',
  'mongodb://db.example.com/?unknownOption=1',
  'mongodb://db.example.com/?maxPoolSize=abc',
  'mongodb://db.example.com/?readPreference=sometimes',
  'mongodb://db.example.com/db#fragment',
  'mongodb://db.example.com/db name',
  'mongodb://',
  'postgres://db.example.com/',
];

interface DriverBundle {
  parse(uri: string): { options?: unknown; error?: { name: string; message: string } };
  exportNames: string[];
  driver: typeof import('mongodb');
}

async function bundle(name: string, options: BuildOptions): Promise<{ loaded: DriverBundle; metafile: Metafile }> {
  const outfile = join(OUT, `${name}.cjs`);
  const { outExtension: _outExtension, ...rest } = options;
  const result = await build({
    ...rest,
    stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: `${name}.js`, loader: 'js' },
    absWorkingDir: ROOT,
    outfile,
    metafile: true,
    logLevel: 'silent',
  });
  return { loaded: require(outfile) as DriverBundle, metafile: result.metafile };
}

describe('serverless-mongodb/esbuild trims', () => {
  let plain: DriverBundle;
  let trimmed: DriverBundle;
  let trimmedInputs: string[];
  let server: WireServer;

  beforeAll(async () => {
    await mkdir(OUT, { recursive: true });
    // Prepare: the same entry, bundled as esbuild does by default for Node and with the trims
    const [plainBuild, trimmedBuild] = await Promise.all([
      bundle('plain', { bundle: true, platform: 'node', target: 'node22', format: 'cjs', minify: true, external: [...LAMBDA_EXTERNALS] }),
      bundle('trimmed', lambdaBundleOptions({ format: 'cjs' })),
    ]);
    plain = plainBuild.loaded;
    trimmed = trimmedBuild.loaded;
    trimmedInputs = Object.keys(trimmedBuild.metafile.inputs);
    server = await startWireServer({ users: [{ username: 'app', password: 'pässwörd' }] });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await rm(OUT, { recursive: true, force: true });
  });

  it('leaves whatwg-url and its Unicode tables out, and defers every listed driver module', () => {
    // Assess
    expect(trimmedInputs.filter((input) => /node_modules\/(whatwg-url|tr46|webidl-conversions)\//.test(input))).toEqual([]);
    const deferredTargets = new Set(DEFERRED_DRIVER_MODULES.map(({ importer, specifier }) => (specifier.startsWith('.') ? posix.join(posix.dirname(importer), specifier) : specifier)));
    expect(trimmedInputs.filter((input) => input.startsWith('serverless-mongodb-deferred:'))).toHaveLength(deferredTargets.size);
  });

  it('lists only deferrals that match the installed driver: each importer requires its specifier', async () => {
    for (const { importer, specifier } of DEFERRED_DRIVER_MODULES) {
      // Act
      const source = await readFile(join(ROOT, 'node_modules', 'mongodb', 'lib', importer), 'utf8');

      // Assess
      expect(source, `${importer} requires ${specifier}`).toContain(`require("${specifier}")`);
    }
  });

  it.each(URIS)('parses %s as the plainly bundled driver does', (uri) => {
    // Act
    const expected = plain.parse(uri);
    const actual = trimmed.parse(uri);

    // Assess
    expect(actual).toEqual(expected);
  });

  it('accepts and refuses connection strings (the table covers both)', () => {
    const outcomes = URIS.map((uri) => (plain.parse(uri).error ? 'refused' : 'parsed'));
    expect(outcomes.filter((outcome) => outcome === 'refused').length).toBeGreaterThanOrEqual(10);
    expect(outcomes.filter((outcome) => outcome === 'parsed').length).toBeGreaterThanOrEqual(15);
  });

  it('exports the same driver API', () => {
    expect(trimmed.exportNames).toEqual(plain.exportNames);
    for (const name of ['GridFSBucket', 'ClientEncryption', 'MongoCryptError', 'GSSAPICanonicalizationValue', 'AutoEncryptionLoggerLevel'] as const) {
      expect(typeof trimmed.driver[name], name).toBe(typeof plain.driver[name]);
    }
    // A deferred module is loaded once: the same class on every read.
    expect(trimmed.driver.GridFSBucket).toBe(trimmed.driver.GridFSBucket);
    expect(new trimmed.driver.MongoCryptError('x')).toBeInstanceOf(trimmed.driver.MongoError);
  });

  it('authenticates with SCRAM-SHA-256 (the deferred SASLprep) and fails a wrong password alike', async () => {
    const uri = (password: string) => `mongodb://app:${encodeURIComponent(password)}@127.0.0.1:${server.port}/?authSource=admin&authMechanism=SCRAM-SHA-256&serverSelectionTimeoutMS=2000`;
    for (const { driver } of [plain, trimmed]) {
      // Act
      const client = new driver.MongoClient(uri('pässwörd'));
      const pong = await client.db('admin').command({ ping: 1 });
      await client.close();
      const wrong = new driver.MongoClient(uri('wrong'));
      const failure = await wrong.connect().then(() => undefined, (error: Error) => `${error.name}: ${error.message}`);
      await wrong.close();

      // Assess
      expect(pong.ok).toBe(1);
      expect(failure).toMatch(/^MongoServerError: Authentication failed/);
    }
  });

  it('runs GridFS and refuses client-side encryption without its optional module, as before', () => {
    const results = [plain, trimmed].map(({ driver }) => {
      const client = new driver.MongoClient('mongodb://127.0.0.1:1/');
      const bucket = new driver.GridFSBucket(client.db('files'), { bucketName: 'photos' });
      let encryption: string | undefined;
      try {
        new driver.ClientEncryption(client, { keyVaultNamespace: 'keys.vault', kmsProviders: { local: { key: Buffer.alloc(96) } } });
      } catch (error) {
        encryption = `${(error as Error).name}: ${(error as Error).message}`;
      }
      return { bucket: bucket instanceof driver.GridFSBucket, encryption };
    });
    expect(results[1]).toEqual(results[0]);
    expect(results[1]?.bucket).toBe(true);
    expect(results[1]?.encryption).toMatch(/mongodb-client-encryption/);
  });

  it('builds an ES module (the default format) that loads the driver', async () => {
    // Act
    const outfile = join(OUT, 'esm.mjs');
    const { outExtension: _outExtension, ...options } = lambdaBundleOptions();
    await build({ ...options, stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: 'esm.js', loader: 'js' }, absWorkingDir: ROOT, outfile, logLevel: 'silent' });
    const esm = (await import(pathToFileURL(outfile).href)) as DriverBundle;

    // Assess
    expect(esm.parse(URIS[3]!)).toEqual(plain.parse(URIS[3]!));
    expect(lambdaBundleOptions({ trims: false }).plugins).toEqual([]);
  });
});

describe('lambdaBundleOptions({ format: "cjs" })', () => {
  it('bundles an ES module that reads import.meta.url without a warning, and gives it the bundle\'s own file URL', async () => {
    // Prepare
    const outfile = join(OUT, 'meta', 'handler.cjs');
    await mkdir(join(OUT, 'meta'), { recursive: true });

    // Act
    const result = await build({
      ...lambdaBundleOptions({ format: 'cjs', trims: false }),
      stdin: { contents: 'export const url = import.meta.url;', resolveDir: ROOT, sourcefile: 'meta.mjs', loader: 'js' },
      absWorkingDir: ROOT,
      outfile,
      logLevel: 'silent',
    });

    // Assess
    expect(result.warnings.map((warning) => warning.text)).toEqual([]);
    expect((require(outfile) as { url: string }).url).toBe(pathToFileURL(outfile).href);
  });
});
