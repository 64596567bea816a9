/**
 * Server side of MONGODB-AWS (the auth spec's conversation): saslStart carries the client nonce `r` and the GS2 flag
 * `p`; the server answers its own nonce `s` (the client's 32 bytes + 32 of its own) and the STS host `h`;
 * saslContinue carries the SigV4 `Authorization` (`a`), `X-Amz-Date` (`d`) and the session token (`t`) of an
 * STS GetCallerIdentity request. mongod sends that request to STS; this server instead signs it again with the
 * credentials the test accepts (the SDK's own signer, see ../aws-sigv4.ts) and compares. Nothing leaves the process.
 */
import { randomBytes } from 'node:crypto';
import { Binary, BSON } from 'bson';
import { sigV4Problem, type FakeCredentials } from '../aws-sigv4.js';
import { CommandError } from './errors.js';

export const AWS_MECHANISM = 'MONGODB-AWS';
const STS_HOST = 'sts.amazonaws.com';
const BODY = 'Action=GetCallerIdentity&Version=2011-06-15';

export interface AwsConversation {
  conversationId: number;
  serverNonce: Buffer;
  host: string;
}

function refused(reason: string): CommandError {
  return new CommandError(18, `Authentication failed: ${reason}`);
}

function bytesOf(value: unknown): Buffer | undefined {
  if (value instanceof Binary) return Buffer.from(value.buffer);
  if (value instanceof Uint8Array) return Buffer.from(value);
  return undefined;
}

export class AwsAuthServer {
  private nextConversationId = 1_000_000;

  constructor(private accepted: FakeCredentials[]) {}

  /** The credentials whose signatures are accepted from now on (a rotation revokes the old ones). */
  setCredentials(accepted: FakeCredentials[]): void {
    this.accepted = accepted;
  }

  start(payload: Buffer): { conversation: AwsConversation; payload: Buffer } {
    const message = BSON.deserialize(payload, { promoteBuffers: true });
    const clientNonce = bytesOf(message.r);
    if (!clientNonce || clientNonce.length !== 32) throw refused('the client nonce must be 32 bytes');
    if (message.p !== 110 && message.p !== 121 && message.p !== 112) throw refused('unknown GS2 flag');
    const serverNonce = Buffer.concat([clientNonce, randomBytes(32)]);
    const conversation = { conversationId: this.nextConversationId++, serverNonce, host: STS_HOST };
    return { conversation, payload: Buffer.from(BSON.serialize({ s: new Binary(serverNonce), h: STS_HOST })) };
  }

  /** Verifies the signed request; resolves with the access key id it was signed with. */
  async continue(conversation: AwsConversation, payload: Buffer): Promise<string> {
    const message = BSON.deserialize(payload, { promoteBuffers: true });
    const authorization = typeof message.a === 'string' ? message.a : '';
    const amzDate = typeof message.d === 'string' ? message.d : '';
    const headers: Record<string, string> = {
      authorization,
      'content-length': String(BODY.length),
      'content-type': 'application/x-www-form-urlencoded',
      'x-amz-date': amzDate,
      'x-mongodb-gs2-cb-flag': 'n',
      'x-mongodb-server-nonce': conversation.serverNonce.toString('base64'),
    };
    if (typeof message.t === 'string') headers['x-amz-security-token'] = message.t;
    const problem = await sigV4Problem({ method: 'POST', host: conversation.host, path: '/', headers, body: BODY }, this.accepted);
    if (problem) throw refused(problem);
    return /Credential=([^/]+)\//.exec(authorization)?.[1] ?? '';
  }
}
