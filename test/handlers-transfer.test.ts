// The transfer handler (handlers/transfer.ts): one transaction per invocation through `mongo({ transaction: true })`.
// A transfer that fails midway (after the debit) must leave no partial write on the server.
import { beforeEach, describe, expect, it } from 'vitest';
import { useHandlerRig } from './fixtures/handlers/rig.js';
import { httpEvent, parseResponse, type ParsedResponse } from './fixtures/handlers/http-event.js';
import { lambdaContext } from './support/lambda-context.js';

const DB = 'app';

describe('transfer handler', () => {
  // After each test the rig drops the data, the records and any fail point (resetHandlerRig).
  const rig = useHandlerRig(DB);

  beforeEach(async () => {
    await seedAccounts({ alice: 10_000, bob: 5_000 });
    rig.server.clearRecords();
  });

  /** Inserts accounts with the driver of the test process. */
  async function seedAccounts(balances: Record<string, number>): Promise<void> {
    const { MongoClient } = await import('mongodb');
    const client = new MongoClient(rig.server.uri, { serverSelectionTimeoutMS: 2_000 });
    try {
      await client.db(DB).collection<{ _id: string; balance: number }>('accounts').insertMany(Object.entries(balances).map(([_id, balance]) => ({ _id, balance })));
    } finally {
      await client.close();
    }
  }

  function balances(): Record<string, number> {
    return Object.fromEntries(rig.server.documents(DB, 'accounts').map((account) => [account._id as string, account.balance as number]));
  }

  async function transfer(body: unknown): Promise<ParsedResponse> {
    return parseResponse(await rig.handlers.transfer(httpEvent('POST /transfers', { body }), lambdaContext()));
  }

  it('moves the amount and records the transfer in one committed transaction', async () => {
    // Act
    const response = await transfer({ from: 'alice', to: 'bob', amount: 2_500 });

    // Assess
    expect(response).toMatchObject({ statusCode: 201, body: { amount: 2_500, from: { id: 'alice', balance: 7_500 }, to: { id: 'bob', balance: 7_500 } } });
    expect(balances()).toEqual({ alice: 7_500, bob: 7_500 });
    expect(rig.server.documents(DB, 'transfers')).toEqual([expect.objectContaining({ from: 'alice', to: 'bob', amount: 2_500 })]);
    const writes = [...rig.server.commandsNamed('findAndModify'), ...rig.server.commandsNamed('insert')];
    expect(writes).toHaveLength(3);
    expect(new Set(writes.map((command) => command.txnNumber))).toEqual(new Set([writes[0]?.txnNumber]));
    // the commit is the writes' transaction's: their lsid and txnNumber
    expect(rig.server.commandsNamed('commitTransaction')).toEqual([expect.objectContaining({ lsid: writes[0]?.lsid, txnNumber: writes[0]?.txnNumber })]);
  });

  it('leaves no partial write when the receiving account is missing after the debit', async () => {
    // Act
    const response = await transfer({ from: 'alice', to: 'carol', amount: 1_000 });

    // Assess
    expect(response).toMatchObject({ statusCode: 404, body: { error: { code: 'NOT_FOUND', field: 'to' } } });
    // The debit was written in the transaction, then aborted with it.
    const writes = rig.server.commandsNamed('findAndModify');
    expect(writes.map((command) => command.body.query)).toEqual([{ _id: 'alice', balance: { $gte: 1_000 } }, { _id: 'carol' }]);
    expect(rig.server.commandsNamed('abortTransaction')).toEqual([expect.objectContaining({ lsid: writes[0]?.lsid, txnNumber: writes[0]?.txnNumber })]);
    expect(rig.server.commandsNamed('commitTransaction')).toHaveLength(0);
    expect(balances()).toEqual({ alice: 10_000, bob: 5_000 });
    expect(rig.server.documents(DB, 'transfers')).toEqual([]);
  });

  it('leaves no partial write when the last write fails (debit and credit already done)', async () => {
    // Prepare
    rig.server.failNext({ command: 'insert', code: 2, errmsg: 'BadValue: injected failure' });

    // Act
    const response = await transfer({ from: 'alice', to: 'bob', amount: 1_000 });

    // Assess
    expect(response).toMatchObject({ statusCode: 500, body: { error: { code: 'INTERNAL' } } });
    const writes = rig.server.commandsNamed('findAndModify');
    expect(writes).toHaveLength(2);
    expect(rig.server.commandsNamed('abortTransaction')).toEqual([expect.objectContaining({ lsid: writes[0]?.lsid, txnNumber: writes[0]?.txnNumber })]);
    expect(balances()).toEqual({ alice: 10_000, bob: 5_000 });
    expect(rig.server.documents(DB, 'transfers')).toEqual([]);
  });

  it('answers 503 and applies nothing when the commit fails', async () => {
    // Prepare
    rig.server.failNext({ command: 'commitTransaction', code: 112, codeName: 'WriteConflict', errorLabels: ['TransientTransactionError'], times: 5 });

    // Act
    const response = await transfer({ from: 'alice', to: 'bob', amount: 1_000 });

    // Assess
    expect(response).toMatchObject({ statusCode: 503, body: { error: { code: 'DATABASE_UNAVAILABLE' } } });
    expect(balances()).toEqual({ alice: 10_000, bob: 5_000 });
    expect(rig.server.documents(DB, 'transfers')).toEqual([]);
  });

  it('refuses insufficient funds with 409 and writes nothing', async () => {
    // Act
    const response = await transfer({ from: 'bob', to: 'alice', amount: 5_001 });

    // Assess
    expect(response).toMatchObject({ statusCode: 409, body: { error: { code: 'CONFLICT', field: 'amount' } } });
    expect(balances()).toEqual({ alice: 10_000, bob: 5_000 });
  });

  it.each([
    { what: 'a missing amount', body: { from: 'alice', to: 'bob' }, field: 'amount' },
    { what: 'a fractional amount', body: { from: 'alice', to: 'bob', amount: 10.5 }, field: 'amount' },
    { what: 'a zero amount', body: { from: 'alice', to: 'bob', amount: 0 }, field: 'amount' },
    { what: 'a missing source', body: { to: 'bob', amount: 1 }, field: 'from' },
    { what: 'a transfer to itself', body: { from: 'alice', to: 'alice', amount: 1 }, field: 'to' },
    { what: 'an unknown field', body: { from: 'alice', to: 'bob', amount: 1, memo: 'hi' }, field: 'memo' },
  ])('refuses $what with 400 naming $field, before any query', async ({ body, field }) => {
    // Act
    const response = await transfer(body);

    // Assess
    expect(response).toMatchObject({ statusCode: 400, body: { error: { code: 'VALIDATION_FAILED', field } } });
    expect(rig.server.commandsNamed('findAndModify')).toHaveLength(0);
  });
});
