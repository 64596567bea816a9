/**
 * The part of a Lambda context this library reads, declared once for every entry point: the request id for log
 * records, and the remaining time for the invocation's deadline. Lambda's `Context` fits, so does a test's stub.
 */
export interface LambdaContextLike {
  /** The invocation's request id, put on every lifecycle record. */
  awsRequestId?: string;
  /** Milliseconds until Lambda stops the invocation; the deadline is derived from it. */
  getRemainingTimeInMillis?: () => number;
}
