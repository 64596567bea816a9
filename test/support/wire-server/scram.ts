/**
 * Server side of SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802 / RFC 7677) as used by
 * MongoDB's saslStart / saslContinue. Synchronous node:crypto only, so a
 * conversation step is atomic with respect to other commands.
 *
 * MongoDB specifics: SCRAM-SHA-1 uses md5(`${user}:mongo:${password}`) (hex) as
 * the password; the server answers the client-final message with done: true
 * (the driver sends options.skipEmptyExchange).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { CommandError } from './errors.js';

export type ScramMechanism = 'SCRAM-SHA-1' | 'SCRAM-SHA-256';
export const SCRAM_MECHANISMS: ScramMechanism[] = ['SCRAM-SHA-1', 'SCRAM-SHA-256'];

export interface ScramUser {
  username: string;
  password: string;
  db: string;
}

interface Keys {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** State of one in-flight conversation (kept on the connection). */
export interface ScramConversation {
  conversationId: number;
  mechanism: ScramMechanism;
  user: ScramUser;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
  done: boolean;
}

const ITERATIONS = 4096; // the minimum the driver accepts; keeps tests fast

function algo(mechanism: ScramMechanism): 'sha1' | 'sha256' {
  return mechanism === 'SCRAM-SHA-1' ? 'sha1' : 'sha256';
}

function hmac(mechanism: ScramMechanism, key: Buffer, text: string): Buffer {
  return createHmac(algo(mechanism), key).update(text, 'utf8').digest();
}

function authFailed(): CommandError {
  return new CommandError(18, 'Authentication failed.');
}

function parseAttributes(message: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) attrs.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return attrs;
}

function decodeSaslName(name: string): string {
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

export class ScramServer {
  private readonly keyCache = new Map<string, Keys>();
  private nextConversationId = 1;

  constructor(private readonly users: ScramUser[]) {}

  /** Changes (or adds) a user's password: new conversations check against it; connections already authenticated stay so, as in mongod. */
  setPassword(username: string, password: string, db = 'admin'): void {
    const user = this.findUser(db, username);
    if (user) user.password = password;
    else this.users.push({ username, password, db });
  }

  findUser(db: string, username: string): ScramUser | undefined {
    return this.users.find((u) => u.db === db && u.username === username);
  }

  /** mechanisms for hello's saslSupportedMechs ("db.user"); undefined for unknown users (like mongod) */
  supportedMechanisms(qualifiedName: string): ScramMechanism[] | undefined {
    const dot = qualifiedName.indexOf('.');
    if (dot < 0) return undefined;
    return this.findUser(qualifiedName.slice(0, dot), qualifiedName.slice(dot + 1)) ? [...SCRAM_MECHANISMS] : undefined;
  }

  private keys(user: ScramUser, mechanism: ScramMechanism): Keys {
    const cacheKey = `${mechanism}\0${user.db}\0${user.username}\0${user.password}`;
    const cached = this.keyCache.get(cacheKey);
    if (cached) return cached;
    const password =
      mechanism === 'SCRAM-SHA-1'
        ? createHash('md5').update(`${user.username}:mongo:${user.password}`, 'utf8').digest('hex')
        : user.password; // SASLprep is the identity for the ASCII passwords tests use
    const salt = randomBytes(mechanism === 'SCRAM-SHA-1' ? 16 : 28);
    const salted = pbkdf2Sync(password, salt, ITERATIONS, mechanism === 'SCRAM-SHA-1' ? 20 : 32, algo(mechanism));
    const clientKey = hmac(mechanism, salted, 'Client Key');
    const keys: Keys = {
      salt,
      iterations: ITERATIONS,
      storedKey: createHash(algo(mechanism)).update(clientKey).digest(),
      serverKey: hmac(mechanism, salted, 'Server Key'),
    };
    this.keyCache.set(cacheKey, keys);
    return keys;
  }

  /** saslStart: returns the conversation and the server-first message. Throws code 18. */
  start(db: string, mechanism: unknown, payload: Buffer): { conversation: ScramConversation; payload: Buffer } {
    if (mechanism !== 'SCRAM-SHA-1' && mechanism !== 'SCRAM-SHA-256') {
      throw new CommandError(2, `Received authentication for mechanism ${String(mechanism)} which is not enabled`, {
        codeName: 'MechanismUnavailable',
      });
    }
    const clientFirst = payload.toString('utf8');
    // gs2 header: "n,," (no channel binding) followed by the bare message
    const match = /^[nyp][^,]*,[^,]*,(.*)$/s.exec(clientFirst);
    if (!match || !clientFirst.startsWith('n')) throw authFailed();
    const clientFirstBare = match[1] as string;
    const attrs = parseAttributes(clientFirstBare);
    const username = decodeSaslName(attrs.get('n') ?? '');
    const clientNonce = attrs.get('r');
    if (!clientNonce) throw authFailed();
    const user = this.findUser(db, username);
    if (!user) throw authFailed();
    const keys = this.keys(user, mechanism);
    const nonce = clientNonce + randomBytes(24).toString('base64');
    const serverFirst = `r=${nonce},s=${keys.salt.toString('base64')},i=${keys.iterations}`;
    const conversation: ScramConversation = {
      conversationId: this.nextConversationId++,
      mechanism,
      user,
      clientFirstBare,
      serverFirst,
      nonce,
      done: false,
    };
    return { conversation, payload: Buffer.from(serverFirst, 'utf8') };
  }

  /**
   * saslContinue: verifies the client proof and returns the server signature
   * ("v=..."). An extra empty step after success just returns done: true.
   */
  continue(conversation: ScramConversation, payload: Buffer): { payload: Buffer; done: boolean } {
    if (conversation.done) return { payload: Buffer.alloc(0), done: true };
    const clientFinal = payload.toString('utf8');
    const proofAt = clientFinal.lastIndexOf(',p=');
    if (proofAt < 0) throw authFailed();
    const withoutProof = clientFinal.slice(0, proofAt);
    const attrs = parseAttributes(clientFinal);
    if (attrs.get('r') !== conversation.nonce || attrs.get('c') !== 'biws') throw authFailed();
    const proof = Buffer.from(attrs.get('p') ?? '', 'base64');
    const { mechanism, user } = conversation;
    const keys = this.keys(user, mechanism);
    const authMessage = `${conversation.clientFirstBare},${conversation.serverFirst},${withoutProof}`;
    const clientSignature = hmac(mechanism, keys.storedKey, authMessage);
    if (proof.length !== clientSignature.length) throw authFailed();
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = (proof[i] as number) ^ (clientSignature[i] as number);
    const storedKey = createHash(algo(mechanism)).update(clientKey).digest();
    if (!timingSafeEqual(storedKey, keys.storedKey)) throw authFailed();
    conversation.done = true;
    const serverSignature = hmac(mechanism, keys.serverKey, authMessage).toString('base64');
    return { payload: Buffer.from(`v=${serverSignature}`, 'utf8'), done: true };
  }
}
