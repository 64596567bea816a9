/**
 * Reads what the handler needs from a Lambda Function URL event (payload format 2.0, the format API Gateway
 * HTTP APIs use too): method, raw path and query (as signed), lower-case headers, body bytes, IAM identity.
 */

/** The part of a Function URL event (payload 2.0) the handler reads; `LambdaFunctionURLEvent` fits. */
export interface FunctionUrlEvent {
  rawPath?: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext?: {
    requestId?: string;
    http?: { method?: string; sourceIp?: string };
    authorizer?: { iam?: { userArn?: string; accessKey?: string; accountId?: string } | null } | null;
  };
}

/** A request as the handler sees it. */
export interface IncomingRequest {
  method: string;
  rawPath: string;
  /** The path with the query string, exactly what the client signed. */
  pathWithQuery: string;
  headers: Record<string, string | undefined>;
  /** Size of the body in bytes, known before decoding it. */
  bodyBytes: number;
  /** Decodes the body (base64 when the event says so). */
  body(): Uint8Array;
  iamUserArn: string | undefined;
  requestId: string | undefined;
  sourceIp: string | undefined;
}

export function readEvent(event: FunctionUrlEvent | undefined): IncomingRequest {
  const rawPath = event?.rawPath ?? '/';
  const query = event?.rawQueryString ?? '';
  const headers: Record<string, string | undefined> = {};
  // Function URLs deliver lower-case names already; API Gateway and test tools may not.
  for (const [name, value] of Object.entries(event?.headers ?? {})) headers[name.toLowerCase()] = value;
  const raw = event?.body ?? '';
  const base64 = event?.isBase64Encoded === true;
  const iam = event?.requestContext?.authorizer?.iam;
  return {
    method: (event?.requestContext?.http?.method ?? 'GET').toUpperCase(),
    rawPath,
    pathWithQuery: query === '' ? rawPath : `${rawPath}?${query}`,
    headers,
    bodyBytes: base64 ? Math.floor((raw.length * 3) / 4) - (raw.endsWith('==') ? 2 : raw.endsWith('=') ? 1 : 0) : Buffer.byteLength(raw, 'utf8'),
    body: () => (base64 ? new Uint8Array(Buffer.from(raw, 'base64')) : new TextEncoder().encode(raw)),
    iamUserArn: iam ? (iam.userArn ?? iam.accessKey ?? 'unknown') : undefined,
    requestId: event?.requestContext?.requestId,
    sourceIp: event?.requestContext?.http?.sourceIp,
  };
}

/** The `/<database>/<collection>/<operation>` of a path, decoded; undefined for any other shape. */
export function routeOf(rawPath: string): { database: string; collection: string; operation: string } | undefined {
  const segments = rawPath.split('/');
  if (segments.length !== 4 || segments[0] !== '') return undefined;
  try {
    const [database, collection, operation] = segments.slice(1).map((segment) => decodeURIComponent(segment));
    if (!database || !collection || !operation) return undefined;
    return { database, collection, operation };
  } catch {
    return undefined;
  }
}
