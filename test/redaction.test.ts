// No secret of a connection string in any message, stack, util.inspect of an error and its causes, or log record:
// awkward connection strings through getMongoClient, withMongo, mongo() and the HTTP handler (issue 15, findings 2, 8, 9).
import dns from 'node:dns';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeMongoClient, getMongoClient, withMongo } from '../src/index.js';
import { createHttpHandler } from '../src/http-handler.js';
import { mongo } from '../src/middy.js';
import { redactText, redactUri, secretsOfUri } from '../src/shared/logging/redact.js';
import { CaptureLogger } from './support/capture-logger.js';
import { call } from './support/http-events.js';

const enc = encodeURIComponent;
const HOST = '127.0.0.1:1'; // nothing listens: connects fail fast
const PEM = '-----BEGIN PRIVATE KEY-----\nMIIPemSecretBody0123\n-----END PRIVATE KEY-----';
const LONG = `LongPw-${'x9Y'.repeat(1_500)}`;
const UNICODE = 'pässwörd€秘密Unicode';
const HTTP_SECRET = 'redaction-test-secret-0123456789abcdefgh';

interface Case {
  what: string;
  uri: string;
  /** Strings that must appear nowhere. */
  secrets: string[];
}

const CASES: Case[] = [
  { what: 'a plain password', uri: `mongodb://app:PlainPw1Secret@${HOST}/shop`, secrets: ['PlainPw1Secret'] },
  { what: 'a percent-encoded password with @ / :', uri: `mongodb://app:${enc('Enc@ded/Pw:1')}@${HOST}/shop`, secrets: ['Enc@ded/Pw:1', enc('Enc@ded/Pw:1'), 'Enc@ded', 'ded/Pw'] },
  { what: 'an unescaped @ in the password', uri: `mongodb://app:Leak1st@Leak2nd@${HOST}/shop`, secrets: ['Leak1st', 'Leak2nd'] },
  { what: 'an unescaped / in the password', uri: `mongodb://app:Slash1st/Slash2nd@${HOST}/shop`, secrets: ['Slash1st', 'Slash2nd'] },
  { what: 'an unescaped : in the password', uri: `mongodb://app:Colon1st:Colon2nd@${HOST}/shop`, secrets: ['Colon1st', 'Colon2nd'] },
  { what: 'an unescaped ? in the password', uri: `mongodb://app:Quest1st?Quest2nd@${HOST}/shop`, secrets: ['Quest1st', 'Quest2nd'] },
  { what: 'no scheme', uri: `app:Hunter2Secret@${HOST}/db`, secrets: ['Hunter2Secret', 'Hunter2S'] },
  { what: 'a scheme with one slash', uri: `mongodb:/u:OneSlashPw@${HOST}/db`, secrets: ['OneSlashPw', 'u:O'] },
  { what: 'a wrong scheme', uri: `http://app:WrongSchemePw@${HOST}/db`, secrets: ['WrongSchemePw'] },
  { what: 'an AWS session token', uri: `mongodb://AKIAEXAMPLE:AwsSecretKey1@${HOST}/shop?authMechanism=MONGODB-AWS&authSource=%24external&authMechanismProperties=AWS_SESSION_TOKEN:SessionTok3nValue`, secrets: ['AwsSecretKey1', 'SessionTok3nValue'] },
  { what: 'tlsCertificateKeyFilePassword', uri: `mongodb://app:TlsPw0@${HOST}/shop?tls=true&tlsCertificateKeyFile=%2Ftmp%2Fnone.pem&tlsCertificateKeyFilePassword=KeyFilePw1st`, secrets: ['TlsPw0', 'KeyFilePw1st'] },
  { what: 'a percent-encoded option name', uri: `mongodb://app:TlsPw1@${HOST}/shop?tls=true&tlsCertificateKeyFile%50assword=KeyFilePw2nd`, secrets: ['TlsPw1', 'KeyFilePw2nd'] },
  { what: 'an upper-case option name', uri: `mongodb://app:TlsPw2@${HOST}/shop?tls=true&TLSCERTIFICATEKEYFILEPASSWORD=KeyFilePw3rd`, secrets: ['TlsPw2', 'KeyFilePw3rd'] },
  { what: 'passphrase=', uri: `mongodb://app:PassphrasePw@${HOST}/shop?tls=true&passphrase=Passphrase1st`, secrets: ['PassphrasePw', 'Passphrase1st'] },
  { what: 'key= (an inline PEM)', uri: `mongodb://app:PemPw@${HOST}/shop?tls=true&key=${enc(PEM)}`, secrets: ['PemPw', 'MIIPemSecretBody0123'] },
  { what: 'pfx=', uri: `mongodb://app:PfxPw@${HOST}/shop?tls=true&pfx=PfxSecretBlob1st`, secrets: ['PfxPw', 'PfxSecretBlob1st'] },
  { what: 'proxyPassword', uri: `mongodb://app:ProxyUserPw@${HOST}/shop?proxyHost=127.0.0.1&proxyPort=1&proxyUsername=pu&proxyPassword=ProxyPw1st`, secrets: ['ProxyUserPw', 'ProxyPw1st'] },
  { what: 'an @ in a query value', uri: `mongodb://app:AtQueryPw@${HOST}/shop?appName=orders@prod&tls=true&tlsCertificateKeyFilePassword=AtQueryKeyPw`, secrets: ['AtQueryPw', 'AtQueryKeyPw'] },
  { what: 'SRV', uri: 'mongodb+srv://app:SrvSecret1st@cluster0.example.invalid/shop', secrets: ['SrvSecret1st'] },
  { what: 'SRV with a port (malformed)', uri: 'mongodb+srv://app:SrvSecret2nd@cluster0.example.invalid:27017/shop', secrets: ['SrvSecret2nd'] },
  { what: 'several hosts', uri: `mongodb://app:MultiHostPw@${HOST},127.0.0.1:2,localhost:3/shop?replicaSet=rs0`, secrets: ['MultiHostPw'] },
  { what: 'an IPv6 host', uri: 'mongodb://app:Ipv6SecretPw@[::1]:1/shop', secrets: ['Ipv6SecretPw'] },
  { what: 'several IPv6 hosts', uri: 'mongodb://app:Ipv6Secret2nd@[::1]:1,[::1]:2/shop', secrets: ['Ipv6Secret2nd'] },
  { what: 'a unicode password, encoded', uri: `mongodb://app:${enc(UNICODE)}@${HOST}/shop`, secrets: [UNICODE, enc(UNICODE)] },
  { what: 'a unicode password, raw', uri: `mongodb://app:${UNICODE}Raw@${HOST}/shop`, secrets: [`${UNICODE}Raw`, enc(`${UNICODE}Raw`)] },
  { what: 'a very long password', uri: `mongodb://app:${LONG}@${HOST}/shop`, secrets: [LONG, LONG.slice(0, 40)] },
  { what: 'a user without password', uri: `mongodb://onlyuser@${HOST}/shop?authSource=admin&tlsCertificateKeyFilePassword=NoPwKeyPw`, secrets: ['NoPwKeyPw'] },
  { what: 'a non-numeric port', uri: `mongodb://app:BadPortPw@127.0.0.1:port/shop`, secrets: ['BadPortPw'] },
  { what: 'an unknown option', uri: `mongodb://app:UnknownOptPw@${HOST}/shop?maxPoolSise=3`, secrets: ['UnknownOptPw'] },
];

const CLIENT_OPTIONS = { serverSelectionTimeoutMS: 200, connectTimeoutMS: 200 };

/** Everything an error shows: message, stack and util.inspect, of it and of every cause. */
function everythingOf(error: unknown): string {
  const parts: string[] = [inspect(error, { depth: 8, showHidden: true })];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? '', inspect(current, { depth: 8 }));
      current = current.cause;
    } else {
      parts.push(inspect(current, { depth: 8 }));
      break;
    }
  }
  return parts.join('\n');
}

async function failureOf(work: () => unknown): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  return undefined;
}

function expectNoSecret(text: string, secrets: readonly string[], where: string): void {
  for (const secret of secrets) expect(text.includes(secret), `${where} contains ${secret.slice(0, 40)}`).toBe(false);
}

describe('no secret of a connection string anywhere', () => {
  const saved = dns.getServers();
  beforeAll(() => {
    // SRV look-ups go to a loopback port where nothing answers, never to a real resolver.
    dns.setServers(['127.0.0.1:1']);
    dns.promises.setServers(['127.0.0.1:1']);
  });
  afterAll(() => {
    dns.setServers(saved);
    dns.promises.setServers(saved);
  });
  afterEach(async () => {
    await closeMongoClient();
  });

  it.each(CASES)('$what: getMongoClient, withMongo, mongo() and the HTTP handler', async ({ uri, secrets }) => {
    // Prepare
    const logger = new CaptureLogger();
    const options = { uri, logger, clientOptions: CLIENT_OPTIONS };

    // Act
    const errors = [
      await failureOf(() => getMongoClient(options)),
      await failureOf(() => withMongo<unknown, string, object>(async () => 'ran', { ...options, prefetch: false })({}, {})),
      await failureOf(() => mongo({ ...options, prefetch: false }).before!({ event: {}, context: {}, response: undefined, error: undefined, internal: {} } as never)),
    ];
    const handlerError = await failureOf(async () => {
      const handler = createHttpHandler({ ...options, secret: HTTP_SECRET, allow: { shop: ['items'] } });
      const answer = await call(handler, '/shop/items/find', {}, { secret: HTTP_SECRET });
      expect(answer.status).toBeGreaterThanOrEqual(500);
      expectNoSecret(answer.result.body, secrets, 'the HTTP answer');
    });

    // Assess
    expect(errors.every((error) => error instanceof Error)).toBe(true);
    expect(handlerError).toBeUndefined();
    errors.forEach((error, index) => expectNoSecret(everythingOf(error), secrets, ['getMongoClient', 'withMongo', 'mongo()'][index] ?? ''));
    expect(logger.records.length).toBeGreaterThan(0);
    expectNoSecret(logger.lines().join('\n'), secrets, 'the log');
    expectNoSecret(inspect(logger.records, { depth: 12 }), secrets, 'the log records');
  });
});

describe('redactUri', () => {
  it.each([
    ['an @ in a query value keeps the host and hides the key password', 'mongodb://app:pw@db.example.net/shop?appName=orders@prod&tlsCertificateKeyFilePassword=kp', 'mongodb://app:****@db.example.net/shop?appName=orders@prod&tlsCertificateKeyFilePassword=****'],
    ['a percent-encoded option name is compared decoded', 'mongodb://h/?tlsCertificateKeyFile%50assword=kp&appName=a', 'mongodb://h/?tlsCertificateKeyFile%50assword=****&appName=a'],
    ['every option not known to be harmless is hidden', 'mongodb://h/?passphrase=x1&key=x2&pfx=x3&somethingNew=x4&replicaSet=rs0&w=majority', 'mongodb://h/?passphrase=****&key=****&pfx=****&somethingNew=****&replicaSet=rs0&w=majority'],
    ['a malformed URI shows nothing past its scheme', 'mongodb://app:a@b@h/shop', 'mongodb://****'],
    ['a user without password stays readable', 'mongodb://onlyuser@h1,h2:27018/shop?authSource=admin', 'mongodb://onlyuser@h1,h2:27018/shop?authSource=admin'],
    ['SRV and IPv6', 'mongodb+srv://app:pw@cluster0.example.net/shop', 'mongodb+srv://app:****@cluster0.example.net/shop'],
  ])('%s', (_what, uri, expected) => {
    expect(redactUri(uri)).toBe(expected);
  });

  it('knows the secrets of an option with an encoded name, and of an @ after the host list', () => {
    // Act
    const secrets = secretsOfUri('mongodb://app:pw1x@h/?appName=a@b&tlsCertificateKeyFile%50assword=kp1x');

    // Assess
    expect(secrets).toEqual(expect.arrayContaining(['pw1x', 'kp1x']));
    expect(redactText('the driver said kp1x and pw1x', secrets)).toBe('the driver said **** and ****');
  });
});
