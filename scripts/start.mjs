#!/usr/bin/env node
/**
 * `npm start`: the example service on this machine, in one command. Serves the HTTP API of serverless.yml on
 * http://127.0.0.1:3000 (PORT to change it), each route invoking its function's handler as API Gateway would,
 * from the same esbuild bundle settings as the deployment.
 *
 * The database: MONGODB_URI when set; else a local mongod when the machine has one (MONGOD_BINARY or `mongod`
 * on PATH), as a one-member replica set; else the project's wire-protocol test server. One line says which.
 * Embedded databases get two accounts (alice, bob) for the transfer example.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { bundleFunctions, exportNameOf } from './lib/bundle-functions.mjs';
import { startHttpApi } from './lib/http-api.mjs';
import { startLocalDatabase } from './lib/local-database.mjs';
import { functionsOf, httpRoutesOf, readServerlessConfig, ROOT } from './lib/serverless-config.mjs';

const WORK_DIR = join(ROOT, '.tmp', 'start');
const STAGE = 'local';
const DEMO_ACCOUNTS = [
  { _id: 'alice', balance: 10_000 },
  { _id: 'bob', balance: 5_000 },
];

const log = (line = '') => process.stdout.write(`${line}\n`);

/** A Lambda context for one invocation of `fn`. */
function lambdaContext(service, fn) {
  const functionName = `${service}-${STAGE}-${fn.name}`;
  const deadline = Date.now() + fn.timeout * 1000;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: String(fn.memorySize),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Invokes a handler with its function's timeout, as Lambda would (a late result is dropped). */
async function invokeWithTimeout(handler, event, context, timeoutMs) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, timedOut: true }), timeoutMs);
  });
  try {
    return await Promise.race([
      handler(event, context).then(
        (result) => ({ ok: true, result }),
        (error) => {
          process.stderr.write(`[${context.functionName}] invocation failed: ${error?.stack ?? error}\n`);
          return { ok: false };
        },
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function seedAccounts(uri, dbName) {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000 });
  try {
    const accounts = client.db(dbName).collection('accounts');
    await Promise.all(DEMO_ACCOUNTS.map(({ _id, balance }) => accounts.updateOne({ _id }, { $setOnInsert: { balance } }, { upsert: true })));
  } finally {
    await client.close();
  }
}

function printUsage(url, routes, database) {
  const json = "-H 'content-type: application/json'";
  log(`HTTP API: ${url} (the routes of serverless.yml, handlers bundled by esbuild.config.cjs as deployed)`);
  for (const route of routes) log(`  ${route.method.padEnd(6)} ${route.path.padEnd(16)} -> ${route.functionName}`);
  log();
  log('Try it:');
  log(`  curl -s ${url}/health`);
  log(`  curl -s -X POST ${url}/items ${json} -d '{"name":"Desk lamp","price":25,"tags":["home"]}'`);
  log(`  curl -s '${url}/items?limit=10'                 # then ?limit=10&cursor=<nextCursor>`);
  log(`  curl -s ${url}/items/<id>`);
  log(`  curl -s -X PATCH ${url}/items/<id> ${json} -d '{"price":30}'`);
  log(`  curl -s -X DELETE ${url}/items/<id>`);
  if (database.kind !== 'uri') log(`  curl -s -X POST ${url}/transfers ${json} -d '{"from":"alice","to":"bob","amount":2500}'`);
  log(`  curl -s -X POST ${url}/items ${json} -d '{"name":'     # malformed JSON: 400`);
  log();
  log('The SQS consumer has no HTTP route; invoke it with the framework, against the same database:');
  log(`  MONGODB_URI='${database.kind === 'uri' ? '<your MONGODB_URI>' : database.uri}' npx osls invoke local --stage local -f stockConsumer \\`);
  log(`    --data '{"Records":[{"messageId":"m-1","body":"{\\"sku\\":\\"A-1\\",\\"quantity\\":12,\\"version\\":1}"}]}'`);
  log();
  log('Ctrl-C stops the server and the embedded database.');
}

async function main() {
  const config = readServerlessConfig();
  const functions = functionsOf(config);
  const routes = httpRoutesOf(config);
  const dbName = process.env.MONGODB_DB_NAME?.trim() || config.params?.default?.mongodbDbName || 'app';

  // The functions' environment, as serverless.yml gives it on Lambda (the URI comes from the database chosen below).
  process.env.MONGODB_DB_NAME = dbName;
  process.env.POWERTOOLS_LOG_LEVEL ??= 'INFO';

  const bundle = await bundleFunctions(functions, join(WORK_DIR, 'functions.cjs'));
  const database = await startLocalDatabase({ workDir: WORK_DIR, redact: bundle.redactUri, warn: (line) => log(`Warning: ${line}`) });
  log(`Database: ${database.label}`);
  process.env.MONGODB_URI = database.uri;

  let api;
  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    await api?.close();
    await bundle.closeMongoClient();
    await database.stop();
    process.exit(code);
  };
  // `npm start` execs this script (package.json), so the SIGINT or SIGTERM that npm forwards reaches it rather
  // than a shell in between that would die and leave the server running; SIGHUP is a closed terminal.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(signal, () => void stop(0));

  try {
    if (database.kind !== 'uri') await seedAccounts(database.uri, dbName);
    const byName = new Map(functions.map((fn) => [fn.name, fn]));
    api = await startHttpApi({
      routes,
      port: Number(process.env.PORT ?? 3000),
      invoke: (functionName, event) => {
        const fn = byName.get(functionName);
        return invokeWithTimeout(bundle[exportNameOf(functionName)], event, lambdaContext(config.service, fn), fn.timeout * 1000);
      },
      onRequest: (line) => log(`[http] ${line}`),
    });
  } catch (error) {
    log(`Could not start: ${error instanceof Error ? error.message : String(error)}`);
    await stop(1);
    return;
  }
  printUsage(api.url, routes, database);
}

await main();
