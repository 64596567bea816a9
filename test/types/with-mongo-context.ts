// Type test, checked by `npm run typecheck` (tsconfig.json includes test/): `withMongo` hands the handler the
// caller's own context type plus `mongo`, and returns a handler taking that context. The `@ts-expect-error`
// lines fail the type check when what they guard stops being an error (a context type widened to `any`).
import type { Context, Handler } from 'aws-lambda';
import { withMongo, type MongoContext } from '../../src/index.js';

// Unannotated: Lambda's `Context`, so its members type-check next to `mongo`.
export const lambdaDefault = withMongo(async (event: { id: string }, context) => {
  const name: string = context.functionName;
  const remaining: number = context.getRemainingTimeInMillis();
  // @ts-expect-error not a member of Lambda's Context
  void context.notAContextMember;
  const { db, session } = context.mongo;
  return { name, remaining, found: await db.collection('items').findOne({ id: event.id }, { session }) };
});
// The returned handler fits aws-lambda's `Handler` and takes a Lambda context...
export const asHandler: Handler<{ id: string }, unknown> = lambdaDefault;
// ...and not something that is no Lambda context.
// @ts-expect-error the returned handler takes the context type it was given
void lambdaDefault({ id: 'a' }, { awsRequestId: 'x' });

// Annotated with Lambda's `Context`: the same.
export const annotated = withMongo(async (_event: unknown, context: Context & { mongo: MongoContext }) => context.invokedFunctionArn);
export const annotatedHandler: Handler<unknown, string> = annotated;

// A context of the caller's own (a test harness's, another runtime's): it comes back as given.
interface HarnessContext {
  awsRequestId: string;
  tenant: string;
  getRemainingTimeInMillis(): number;
}
export const own = withMongo<unknown, string, HarnessContext>(async (_event, context) => {
  const tenant: string = context.tenant;
  // @ts-expect-error a harness context has no functionName
  void context.functionName;
  return `${tenant}:${context.mongo.session.id === undefined ? 'none' : 'session'}`;
});
void own({}, { awsRequestId: 'r', tenant: 't', getRemainingTimeInMillis: () => 1000 });
// @ts-expect-error the returned handler wants the harness context, `tenant` included
void own({}, { awsRequestId: 'r', getRemainingTimeInMillis: () => 1000 });

// `session: false` still types `mongo` without a session, on the caller's context.
export const noSession = withMongo(
  async (_event: unknown, context) => {
    const none: undefined = context.mongo.session;
    return [none, context.functionName];
  },
  { session: false },
);
