/**
 * A local stand-in for API Gateway's HTTP API (payload format 2.0): matches a request against the routes of
 * serverless.yml, builds the event API Gateway would send, invokes the function, and maps its result back to an
 * HTTP response the way API Gateway does. Loopback only.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

/** API Gateway refuses larger request bodies before invoking anything. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

/** Content types whose bodies API Gateway passes as text (others arrive base64-encoded). */
const TEXT_TYPES = /^(text\/|application\/([\w.+-]+\+)?(json|xml|javascript|x-www-form-urlencoded))/i;

/** A compiled route: `GET /items/{id}` matches `/items/abc` with `{ id: 'abc' }`. */
function compileRoute(route) {
  const names = [];
  const pattern = route.path
    .split('/')
    .map((segment) => {
      const greedy = /^\{(\w+)\+\}$/.exec(segment);
      if (greedy) {
        names.push(greedy[1]);
        return '(.+)';
      }
      const parameter = /^\{(\w+)\}$/.exec(segment);
      if (parameter) {
        names.push(parameter[1]);
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { ...route, regex: new RegExp(`^${pattern}$`), names };
}

/** The route for a method and path, with its path parameters; exact paths win over parameterized ones. */
export function matchRoute(routes, method, path) {
  const candidates = routes
    .map((route) => ({ route, match: route.regex.exec(path) }))
    .filter(({ route, match }) => match && (route.method === method || route.method === 'ANY'))
    .sort((a, b) => a.route.names.length - b.route.names.length);
  const found = candidates[0];
  if (!found) return undefined;
  const pathParameters = Object.fromEntries(found.route.names.map((name, index) => [name, decodeURIComponent(found.match[index + 1])]));
  return { route: found.route, pathParameters };
}

/** The HTTP API event of a request. */
export function httpApiEvent({ route, pathParameters, method, url, headers, body, remoteAddress }) {
  const lowered = {};
  const cookies = [];
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'cookie') cookies.push(...String(value).split(/;\s*/).filter(Boolean));
    else lowered[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : String(value);
  }
  const query = {};
  for (const [name, value] of url.searchParams) query[name] = name in query ? `${query[name]},${value}` : value;
  const isText = body.length === 0 || TEXT_TYPES.test(lowered['content-type'] ?? 'application/json');
  const now = new Date();
  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies.length ? { cookies } : {}),
    headers: lowered,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(Object.keys(pathParameters).length ? { pathParameters } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: lowered.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: { method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: remoteAddress ?? '127.0.0.1', userAgent: lowered['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey: route.routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
}

/** Writes a function's result as API Gateway (payload 2.0) would. */
function writeResult(response, result) {
  if (result === null || typeof result !== 'object' || !('statusCode' in result)) {
    // A result without statusCode: API Gateway answers 200 with it as a JSON body.
    const body = typeof result === 'string' ? result : JSON.stringify(result ?? null);
    response.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return;
  }
  const headers = { ...(result.headers ?? {}) };
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  const body = result.body === undefined ? '' : result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body;
  response.writeHead(result.statusCode, headers).end(body);
}

/**
 * A request no route of serverless.yml takes: answered in the handlers' documented error shape
 * (`{ "error": { "code", "message" } }`, README "Errors"), so a client handles one shape for every 404.
 */
function sendNoRoute(response, method, path, routes) {
  const known = [...new Set(routes.map((route) => `${route.method} ${route.path}`))].join(', ');
  const message = `No route for ${method} ${path}; the routes are: ${known}`;
  response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message } }));
}

function sendGatewayError(response, statusCode, message) {
  response.writeHead(statusCode, { 'content-type': 'application/json' }).end(JSON.stringify({ message }));
}

/**
 * Starts the HTTP API on 127.0.0.1.
 * @param {{ routes: Array<{ functionName: string, method: string, path: string, routeKey: string }>,
 *   invoke: (functionName: string, event: object) => Promise<{ ok: boolean, result?: unknown, timedOut?: boolean }>,
 *   port?: number, onRequest?: (line: string) => void }} options
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function startHttpApi({ routes, invoke, port = 3000, onRequest = () => {} }) {
  const compiled = routes.map(compileRoute);
  const server = createServer((request, response) => {
    const chunks = [];
    let size = 0;
    request.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_PAYLOAD_BYTES) chunks.push(chunk);
    });
    request.on('end', async () => {
      const started = Date.now();
      const url = new URL(request.url ?? '/', 'http://localhost');
      const method = (request.method ?? 'GET').toUpperCase();
      const matched = matchRoute(compiled, method, url.pathname);
      let status;
      try {
        if (size > MAX_PAYLOAD_BYTES) {
          status = 413;
          sendGatewayError(response, 413, 'Request Entity Too Large');
          return;
        }
        if (!matched) {
          status = 404;
          sendNoRoute(response, method, url.pathname, compiled);
          return;
        }
        const event = httpApiEvent({ ...matched, method, url, headers: request.headers, body: Buffer.concat(chunks), remoteAddress: request.socket.remoteAddress });
        const outcome = await invoke(matched.route.functionName, event);
        if (outcome.timedOut) {
          status = 503;
          sendGatewayError(response, 503, 'Service Unavailable');
        } else if (!outcome.ok) {
          status = 500;
          sendGatewayError(response, 500, 'Internal Server Error');
        } else {
          status = outcome.result?.statusCode ?? 200;
          writeResult(response, outcome.result);
        }
      } catch {
        status = 500;
        if (!response.headersSent) sendGatewayError(response, 500, 'Internal Server Error');
      } finally {
        onRequest(`${method} ${url.pathname}${url.search} -> ${status} ${matched ? `(${matched.route.functionName}) ` : ''}${Date.now() - started} ms`);
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const address = server.address();
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
