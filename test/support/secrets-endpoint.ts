/**
 * A small AWS Secrets Manager and SSM Parameter Store endpoint on 127.0.0.1, speaking their JSON protocol
 * (`X-Amz-Target: secretsmanager.GetSecretValue`, `AmazonSSM.GetParameter`), for the real SDK clients pointed at
 * it with `endpoint`. Each request's SigV4 signature is checked against the fake credentials it was given.
 * It records every request it answered, and can be stopped and started on the same port (an outage).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { sigV4Problem, type FakeCredentials } from './aws-sigv4.js';

export interface EndpointRequest {
  target: string;
  /** SecretId or Name */
  id: string | undefined;
  /** The refusal, when the signature was not valid. */
  refused?: string;
}

export interface SecretsEndpoint {
  readonly url: string;
  readonly requests: EndpointRequest[];
  /** Requests for one secret or parameter, by action (`GetSecretValue`, `GetParameter`). */
  count(action: string, id: string): number;
  /** While on, requests are recorded but never answered (a silent endpoint: a VPC without a route to it). */
  hang(on?: boolean): void;
  /** Stores a new version of a secret (also a parameter of the same name); returns its version id. */
  put(id: string, value: string): string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startSecretsEndpoint(credentials: FakeCredentials): Promise<SecretsEndpoint> {
  const secrets = new Map<string, { value: string; version: string; number: number }>();
  const requests: EndpointRequest[] = [];
  let server: Server | undefined;
  let port = 0;
  let hanging = false;

  const answer = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
    response.end(JSON.stringify(body));
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const target = String(request.headers['x-amz-target'] ?? '');
    const input = (body ? JSON.parse(body) : {}) as { SecretId?: string; Name?: string };
    const record: EndpointRequest = { target, id: input.SecretId ?? input.Name };
    requests.push(record);
    if (hanging) return;
    const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(',') : String(value)]));
    const refused = await sigV4Problem({ method: request.method ?? 'POST', host: String(request.headers.host), path: request.url ?? '/', headers, body }, [credentials]);
    if (refused) {
      record.refused = refused;
      answer(response, 403, { __type: 'InvalidSignatureException', message: `The request signature we calculated does not match: ${refused}` });
      return;
    }
    const stored = record.id === undefined ? undefined : secrets.get(record.id);
    if (target === 'secretsmanager.GetSecretValue') {
      if (!stored) return answer(response, 400, { __type: 'ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret." });
      return answer(response, 200, {
        ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${record.id}-AbCdEf`,
        Name: record.id,
        VersionId: stored.version,
        SecretString: stored.value,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: Date.now() / 1000,
      });
    }
    if (target === 'AmazonSSM.GetParameter') {
      if (!stored) return answer(response, 400, { __type: 'ParameterNotFound', message: '' });
      return answer(response, 200, {
        Parameter: { Name: record.id, Type: 'SecureString', Value: stored.value, Version: stored.number, ARN: `arn:aws:ssm:us-east-1:123456789012:parameter${record.id}`, DataType: 'text', LastModifiedDate: Date.now() / 1000 },
      });
    }
    answer(response, 400, { __type: 'UnknownOperationException', message: target });
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((request, response) => {
        handle(request, response).catch(() => answer(response, 500, { __type: 'InternalServiceError', message: 'test endpoint failed' }));
      });
      next.once('error', reject);
      next.listen({ port, host: '127.0.0.1' }, () => {
        const address = next.address();
        if (address && typeof address === 'object') port = address.port;
        server = next;
        resolve();
      });
    });
  await listen();

  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    requests,
    count: (action, id) => requests.filter((request) => request.target.endsWith(`.${action}`) && request.id === id && !request.refused).length,
    hang(on = true) {
      hanging = on;
    },
    put(id, value) {
      const number = (secrets.get(id)?.number ?? 0) + 1;
      const version = randomUUID();
      secrets.set(id, { value, version, number });
      return version;
    },
    async stop() {
      const current = server;
      server = undefined;
      if (!current) return;
      current.closeAllConnections();
      await new Promise<void>((resolve) => current.close(() => resolve()));
    },
    async start() {
      if (!server) await listen();
    },
  };
}
