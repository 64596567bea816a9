import { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeMongoClient, type MongoContext } from '../src/index.js';
import { emitSafe } from '../src/shared/logging/emit.js';
import { mongo } from '../src/middy.js';
import { CaptureLogger } from './support/capture-logger.js';
import { lambdaContext } from './support/lambda-context.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

describe('hot-path records', () => {
  it('are not built for a Powertools Logger that would drop DEBUG', () => {
    // Prepare
    const logger = new Logger({ serviceName: 'test', logLevel: 'INFO' });
    const debug = vi.spyOn(logger, 'debug');

    // Act
    emitSafe(logger, 'debug', 'session.started', 'Started', { requestId: 'r1' });
    logger.setLogLevel('DEBUG');
    emitSafe(logger, 'debug', 'session.started', 'Started', { requestId: 'r2' });

    // Assess
    expect(debug.mock.calls.map((call) => (call[1] as { mongodb: { requestId: string } }).mongodb.requestId)).toEqual(['r2']);
  });

  it('reach a Powertools Logger that buffers DEBUG records, and any other logger', () => {
    // Prepare
    const buffering = new Logger({ serviceName: 'test', logLevel: 'INFO', logBufferOptions: { enabled: true, bufferAtVerbosity: 'DEBUG' } });
    const debug = vi.spyOn(buffering, 'debug');
    const capture = new CaptureLogger();

    // Act
    emitSafe(buffering, 'debug', 'session.ended', 'Ended', { requestId: 'r1' });
    emitSafe(capture, 'debug', 'session.ended', 'Ended', { requestId: 'r1' });

    // Assess
    expect(debug).toHaveBeenCalledTimes(1);
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
    const debug = vi.spyOn(logger, 'debug').mockImplementation(() => undefined);
    vi.spyOn(logger, 'info').mockImplementation(() => undefined);
    const handler = middy(async (_event: unknown, context: Context & { mongo: MongoContext }) => {
      const { db, session } = context.mongo;
      return db.collection('items').countDocuments({}, { session });
    }).use(mongo({ uri: server.uri, dbName: 'shop', logger }));
    const events = () => debug.mock.calls.map((call) => (call[1] as { mongodb: { event: string } }).mongodb.event);

    // Act
    await handler({}, lambdaContext());
    await handler({}, lambdaContext());
    const atInfo = events();
    logger.setLogLevel('DEBUG');
    await handler({}, lambdaContext());

    // Assess
    expect(atInfo).toEqual([]);
    expect(events()).toEqual(['client.reused', 'session.started', 'session.ended']);
  });
});
