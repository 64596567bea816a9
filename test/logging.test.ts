// What the library's records become on the log sink (a Powertools Logger prints JSON lines to stdout, where Lambda
// collects them): DEBUG records only when someone will see them, and not even built when nobody will.
import { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeMongoClient, type MongoContext } from '../src/index.js';
import { emitSafe } from '../src/shared/logging/emit.js';
import { mongo } from '../src/middy.js';
import { CaptureLogger } from './support/capture-logger.js';
import { lambdaContext } from './support/lambda-context.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

/** The JSON lines printed to stdout from now on (the sink a Powertools Logger writes to), until `stop()`. */
function captureStdout(): { records: () => Array<{ level: string; mongodb?: { event?: string; requestId?: string } }>; stop: () => void } {
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  return {
    records: () => lines.flatMap((chunk) => chunk.split('\n')).filter((line) => line.startsWith('{')).map((line) => JSON.parse(line)),
    stop: () => {
      process.stdout.write = write;
    },
  };
}

/** Details whose reading is observable: a record built from them reads `requestId`. */
function observedDetails(requestId: string, reads: string[]): Record<string, unknown> {
  return Object.defineProperty({}, 'requestId', {
    enumerable: true,
    get: () => {
      reads.push(requestId);
      return requestId;
    },
  });
}

describe('hot-path records', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('are not built for a Powertools Logger that would drop DEBUG, and printed once it is at DEBUG', () => {
    // Prepare
    const logger = new Logger({ serviceName: 'test', logLevel: 'INFO' });
    const reads: string[] = [];
    const sink = captureStdout();

    // Act
    try {
      emitSafe(logger, 'debug', 'session.started', 'Started', observedDetails('r1', reads));
      logger.setLogLevel('DEBUG');
      emitSafe(logger, 'debug', 'session.started', 'Started', observedDetails('r2', reads));
    } finally {
      sink.stop();
    }

    // Assess
    expect(reads).toEqual(['r2']);
    expect(sink.records()).toEqual([expect.objectContaining({ level: 'DEBUG', mongodb: { event: 'session.started', requestId: 'r2' } })]);
  });

  it('reach a Powertools Logger that buffers DEBUG records (printed when the buffer is flushed), and any other logger', () => {
    // Prepare: Powertools buffers per X-Ray trace, as in a Lambda invocation
    vi.stubEnv('_X_AMZN_TRACE_ID', 'Root=1-65f0c0ff-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1');
    const buffering = new Logger({ serviceName: 'test', logLevel: 'INFO', logBufferOptions: { enabled: true, bufferAtVerbosity: 'DEBUG' } });
    const capture = new CaptureLogger();
    const sink = captureStdout();

    // Act
    let beforeFlush: unknown[];
    try {
      emitSafe(buffering, 'debug', 'session.ended', 'Ended', { requestId: 'r1' });
      emitSafe(capture, 'debug', 'session.ended', 'Ended', { requestId: 'r1' });
      beforeFlush = sink.records();
      buffering.flushBuffer();
    } finally {
      sink.stop();
    }

    // Assess
    expect(beforeFlush).toEqual([]);
    expect(sink.records()).toEqual([expect.objectContaining({ level: 'DEBUG', mongodb: { event: 'session.ended', requestId: 'r1' } })]);
    expect(capture.events()).toEqual(['session.ended']);
  });
});

describe('an invocation\'s DEBUG records', () => {
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterAll(async () => {
    await closeMongoClient();
    await server.stop();
  });

  it('are decided when the invocation starts: none at INFO, all three once the level is DEBUG', async () => {
    // Prepare
    const logger = new Logger({ serviceName: 'test', logLevel: 'INFO' });
    const handler = middy(async (_event: unknown, context: Context & { mongo: MongoContext }) => {
      const { db, session } = context.mongo;
      return db.collection('items').countDocuments({}, { session });
    }).use(mongo({ uri: server.uri, dbName: 'shop', logger }));
    const debugEvents = (records: ReturnType<ReturnType<typeof captureStdout>['records']>) =>
      records.filter((record) => record.level === 'DEBUG').map((record) => record.mongodb?.event);

    // Act
    const sink = captureStdout();
    let atInfo: unknown[];
    try {
      await handler({}, lambdaContext());
      await handler({}, lambdaContext());
      atInfo = debugEvents(sink.records());
      logger.setLogLevel('DEBUG');
      await handler({}, lambdaContext());
    } finally {
      sink.stop();
    }

    // Assess
    expect(atInfo).toEqual([]);
    expect(debugEvents(sink.records())).toEqual(['client.reused', 'session.started', 'session.ended']);
    expect(sink.records().filter((record) => record.level === 'INFO').map((record) => record.mongodb?.event)).toEqual(['client.created']);
  });
});
