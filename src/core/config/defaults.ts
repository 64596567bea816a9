/**
 * MongoClient defaults for AWS Lambda. Each one is overridable through `clientOptions` or the
 * connection string (an option written in the URI wins over these defaults, never the other way).
 *
 * The driver's own defaults are made for long-lived servers; in a Lambda container they cost
 * invocations (30 s waits that outlive the function timeout) and connection budget (idle sockets
 * held by frozen containers).
 */
export const LAMBDA_CLIENT_DEFAULTS = {
  /**
   * Driver default 30 000. A function with a 6-30 s timeout would be killed before the driver
   * gives up; failing in 5 s leaves time to return a clean error, and the next invocation retries.
   */
  serverSelectionTimeoutMS: 5_000,
  /**
   * Driver default 30 000. Bounds the TCP + TLS handshake of a new socket, and in polling mode (used on
   * Lambda) also each monitor heartbeat: a peer that silently died during a freeze is noticed in 3 s, not 30 s.
   */
  connectTimeoutMS: 3_000,
  /**
   * Driver default 100. A container runs one invocation at a time, so a handler needs a socket per
   * concurrent operation it issues itself; 5 covers `Promise.all` of a few queries while keeping the
   * worst case (reserved concurrency × (maxPoolSize + 1 monitor)) inside Atlas connection limits.
   */
  maxPoolSize: 5,
  /** Driver default 0. Stated so a frozen container never holds (or re-opens in the background) idle sockets. */
  minPoolSize: 0,
  /**
   * Driver default 0 (never). NAT gateways, PrivateLink endpoints and load balancers drop idle TCP flows after
   * 350 s without telling either side; a socket idle for a minute is closed by the pool (also checked at
   * check-out after a thaw) instead of being written into a dead flow.
   */
  maxIdleTimeMS: 60_000,
  /**
   * Driver default: any. Lambda functions in a VPC usually have no IPv6 route; trying an AAAA answer first
   * costs a connect timeout on the cold start.
   */
  family: 4,
  /** Driver default on. Stated so one failover or stale socket after a thaw is retried once instead of failing the invocation. */
  retryReads: true,
  /** Driver default on. As for reads; needs a replica set (Atlas always is). */
  retryWrites: true,
} as const;

/** The environment variable holding the connection string. */
export const URI_ENV = 'MONGODB_URI';
/** The environment variable holding the database name (else the URI's database is used). */
export const DB_NAME_ENV = 'MONGODB_DB_NAME';
/** Lambda's own variable naming the function; it becomes the driver's `appName` (seen in server logs and Atlas metrics). */
export const FUNCTION_NAME_ENV = 'AWS_LAMBDA_FUNCTION_NAME';
