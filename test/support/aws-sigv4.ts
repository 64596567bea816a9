/**
 * Checks an AWS Signature Version 4 the way AWS does: the request is signed again with the credentials the test
 * knows, by the SDK's own signer (@smithy/signature-v4), over exactly the headers the client listed as signed,
 * and the two Authorization values compared. Nothing outside this process is called.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

export interface FakeCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A request as received: header names in any case. */
export interface ReceivedRequest {
  method: string;
  /** The host the client signed for (the Host header, or the STS host the server named). */
  host: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** Why a signature was refused, or undefined when it is valid for one of `accepted`. */
export async function sigV4Problem(request: ReceivedRequest, accepted: readonly FakeCredentials[]): Promise<string | undefined> {
  const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]));
  const authorization = headers.authorization ?? '';
  const parsed = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(authorization);
  if (!parsed) return 'no SigV4 Authorization header';
  const [, accessKeyId, , region, service, signedList] = parsed as unknown as [string, string, string, string, string, string];
  const credentials = accepted.find((candidate) => candidate.accessKeyId === accessKeyId);
  if (!credentials) return `unknown access key ${accessKeyId}`;
  const amzDate = headers['x-amz-date'];
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) return 'no X-Amz-Date';
  const signingDate = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  const signed = signedList.split(';');
  const signedHeaders: Record<string, string> = {};
  for (const name of signed) {
    if (name === 'host') signedHeaders.host = request.host;
    else if (headers[name] !== undefined) signedHeaders[name] = headers[name] as string;
    else return `signed header ${name} is missing`;
  }
  if (credentials.sessionToken !== undefined && headers['x-amz-security-token'] !== credentials.sessionToken) return 'wrong or missing session token';
  const signer = new SignatureV4({
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}) },
    region,
    service,
    sha256: Sha256,
    applyChecksum: signed.includes('x-amz-content-sha256'),
  });
  const [hostname, port] = request.host.split(':');
  const again = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: hostname ?? request.host,
      ...(port ? { port: Number(port) } : {}),
      path: request.path,
      query: {},
      headers: signedHeaders,
      body: request.body,
    },
    { signingDate, signableHeaders: new Set(signed) },
  );
  const expected = again.headers.authorization ?? again.headers.Authorization;
  return expected === authorization ? undefined : 'signature does not match';
}
