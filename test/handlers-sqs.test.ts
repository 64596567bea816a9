// The SQS consumer (handlers/sqs-consumer.ts): idempotent writes (a redelivered batch changes nothing), older
// snapshots never overwrite newer ones, and failed records come back in batchItemFailures.
import { randomUUID } from 'node:crypto';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { useHandlerRig } from './fixtures/handlers/rig.js';
import { lambdaContext } from './support/lambda-context.js';

const DB = 'app';

/** An SQS record as Lambda delivers it. */
function sqsRecord(body: unknown, messageId: string = randomUUID()): SQSRecord {
  return {
    messageId,
    receiptHandle: `handle-${messageId}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:serverless-mongodb-example-dev-stock',
    awsRegion: 'us-east-1',
  };
}

describe('SQS stock consumer', () => {
  const rig = useHandlerRig(DB);

  async function consume(records: SQSRecord[]): Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }> {
    const event: SQSEvent = { Records: records };
    return (await rig.handlers.stockConsumer(event, lambdaContext())) as { batchItemFailures: Array<{ itemIdentifier: string }> };
  }

  function stock(): Record<string, { quantity: number; version: number }> {
    return Object.fromEntries(rig.server.documents(DB, 'stock').map((doc) => [doc._id as string, { quantity: doc.quantity as number, version: doc.version as number }]));
  }

  it('applies each record and reports no failure', async () => {
    // Act
    const response = await consume([sqsRecord({ sku: 'A-1', quantity: 12, version: 1 }), sqsRecord({ sku: 'B-2', quantity: 3, version: 4 })]);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(stock()).toEqual({ 'A-1': { quantity: 12, version: 1 }, 'B-2': { quantity: 3, version: 4 } });
  });

  it('is safe to redeliver: the same batch again changes nothing and succeeds', async () => {
    // Prepare
    const batch = [sqsRecord({ sku: 'A-1', quantity: 12, version: 2 }), sqsRecord({ sku: 'A-1', quantity: 9, version: 3 })];
    await consume(batch);
    const before = rig.server.documents(DB, 'stock');

    // Act
    const redelivered = await consume(batch);

    // Assess
    expect(redelivered).toEqual({ batchItemFailures: [] });
    expect(rig.server.documents(DB, 'stock')).toEqual(before);
    expect(stock()).toEqual({ 'A-1': { quantity: 9, version: 3 } });
  });

  it('never lets an older snapshot overwrite a newer one (out-of-order delivery)', async () => {
    // Prepare
    await consume([sqsRecord({ sku: 'A-1', quantity: 5, version: 7 })]);

    // Act
    const response = await consume([sqsRecord({ sku: 'A-1', quantity: 50, version: 6 })]);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(stock()).toEqual({ 'A-1': { quantity: 5, version: 7 } });
  });

  it('reports only the failed records: invalid messages and a failed write', async () => {
    // Prepare
    const good = sqsRecord({ sku: 'A-1', quantity: 1, version: 1 });
    const notJson = sqsRecord('{"sku": "B-2", ');
    const invalid = sqsRecord({ sku: 'C-3', quantity: -4, version: 1 });
    const failing = sqsRecord({ sku: 'D-4', quantity: 1, version: 1 });
    const alsoGood = sqsRecord({ sku: 'E-5', quantity: 2, version: 1 });
    // The first write of the batch (D-4's) fails with a non-retryable error.
    rig.server.failNext({ command: 'update', code: 2, errmsg: 'BadValue: injected failure' });

    // Act
    const response = await consume([notJson, failing, invalid, good, alsoGood]);

    // Assess
    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual([notJson.messageId, failing.messageId, invalid.messageId]);
    expect(Object.keys(stock()).sort()).toEqual(['A-1', 'E-5']);
  });

  it('fails the whole batch when the database cannot be reached, so SQS retries all of it', async () => {
    // Prepare
    process.env.MONGODB_URI = 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300';

    // Act
    const outcome = consume([sqsRecord({ sku: 'A-1', quantity: 1, version: 1 })]);

    // Assess
    await expect(outcome).rejects.toMatchObject({ name: 'ConnectionError', code: 'CONNECT_FAILED' });
  });
});
