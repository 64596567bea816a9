/**
 * Redaction of connection strings and secrets, applied to every log record and error message.
 *
 * `mongodb://alice:s3cret@host/db?appName=api&authMechanismProperties=AWS_SESSION_TOKEN:abc`
 * becomes `mongodb://alice:****@host/db?appName=api&authMechanismProperties=****`.
 */

/** What replaces a secret. */
export const REDACTED = '****';

/**
 * URI options whose values are known to be harmless (names, modes, sizes, timeouts, file paths), compared
 * percent-decoded and case-insensitively as the driver does. Every other option's value is redacted: the driver
 * accepts secret-carrying ones under many names (`tlsCertificateKeyFilePassword`, `passphrase`, `key` with an inline
 * PEM, `pfx`, `proxyPassword`, `authMechanismProperties` with a session token...), and new ones may come.
 */
const HARMLESS_OPTIONS = new Set(
  [
    'appName',
    'authMechanism',
    'authSource',
    'replicaSet',
    'directConnection',
    'loadBalanced',
    'tls',
    'ssl',
    'tlsInsecure',
    'tlsAllowInvalidCertificates',
    'tlsAllowInvalidHostnames',
    'tlsDisableOCSPEndpointCheck',
    'tlsDisableCertificateRevocationCheck',
    'tlsCAFile',
    'tlsCertificateKeyFile',
    'tlsCRLFile',
    'retryWrites',
    'retryReads',
    'w',
    'wTimeoutMS',
    'journal',
    'readPreference',
    'readPreferenceTags',
    'maxStalenessSeconds',
    'readConcernLevel',
    'maxPoolSize',
    'minPoolSize',
    'maxConnecting',
    'maxIdleTimeMS',
    'waitQueueTimeoutMS',
    'connectTimeoutMS',
    'socketTimeoutMS',
    'serverSelectionTimeoutMS',
    'serverSelectionTryOnce',
    'heartbeatFrequencyMS',
    'localThresholdMS',
    'compressors',
    'zlibCompressionLevel',
    'srvMaxHosts',
    'srvServiceName',
    'timeoutMS',
    'serverMonitoringMode',
    'proxyHost',
    'proxyPort',
  ].map((name) => name.toLowerCase()),
);

/**
 * The driver's split of a connection string (mongodb-connection-string-url's HOSTS_REGEX): the user info ends at the
 * `@` before the host list, and the host list holds no `/`, `?` or `@`.
 */
const URI_PARTS = /^(?<scheme>[^/]+):\/\/(?:(?<username>[^:@]*)(?::(?<password>[^@]*))?@)?(?<hosts>(?!:)[^/?@]*)(?<rest>.*)$/s;
/** What the driver refuses unescaped in a user name or password. */
const ILLEGAL_IN_USER_INFO = /[:/?#[\]@]/;

interface UriParts {
  scheme: string;
  username: string | undefined;
  password: string | undefined;
  hosts: string;
  /** The path (database) and the query, starting with `/` or `?`, or empty. */
  rest: string;
}

/**
 * The parts of a connection string the driver would accept, split as the driver does; undefined for a malformed one
 * (an unescaped `@`, `:`, `/` or `?` in the user info, an `@` after the host list, no host), whose user info cannot be
 * told from its host list.
 */
function uriParts(uri: string): UriParts | undefined {
  const groups = URI_PARTS.exec(uri)?.groups;
  if (!groups) return undefined;
  const { scheme = '', username, password, hosts = '', rest = '' } = groups;
  if (hosts === '' || !/^mongodb(\+srv)?$/i.test(scheme)) return undefined;
  if ((username !== undefined && ILLEGAL_IN_USER_INFO.test(username)) || (password !== undefined && ILLEGAL_IN_USER_INFO.test(password))) return undefined;
  if (/^[^/?]*@/.test(rest)) return undefined;
  return { scheme, username, password, hosts, rest };
}

/** Whether the value of the URI option `rawKey` (as written, maybe percent-encoded) is known to be harmless. */
function isHarmlessOption(rawKey: string): boolean {
  return HARMLESS_OPTIONS.has(safeDecode(rawKey).toLowerCase());
}

const URI_PATTERN = /\bmongodb(?:\+srv)?:\/\/[^\s"'`<>]+/gi;

/**
 * Returns the connection string with its password and the value of every option not known to be harmless replaced
 * by `****`. The user name, hosts, database and harmless options stay readable for debugging. A malformed string
 * (one the driver refuses, where the user info cannot be found for sure) keeps nothing past its scheme.
 *
 * @example
 * ```ts
 * import { redactUri } from 'serverless-mongodb';
 *
 * redactUri('mongodb://app:pa55@db.example.net/orders?appName=api&tlsCertificateKeyFilePassword=k'); // 'mongodb://app:****@db.example.net/orders?appName=api&tlsCertificateKeyFilePassword=****'
 * ```
 */
export function redactUri(uri: string): string {
  const schemeEnd = uri.indexOf('://');
  if (schemeEnd === -1) return uri;
  const parts = uriParts(uri);
  if (!parts) return `${uri.slice(0, schemeEnd)}://${REDACTED}`;
  const { scheme, username, password, hosts, rest } = parts;
  const userInfo = username === undefined ? '' : `${username}${password === undefined ? '' : `:${REDACTED}`}@`;
  const query = rest.indexOf('?');
  if (query === -1) return `${scheme}://${userInfo}${hosts}${rest}`;
  const pairs = rest
    .slice(query + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq === -1 ? pair : pair.slice(0, eq);
      if (isHarmlessOption(key)) return pair;
      return eq === -1 ? (key === '' ? pair : REDACTED) : `${key}=${REDACTED}`;
    });
  return `${scheme}://${userInfo}${hosts}${rest.slice(0, query + 1)}${pairs.join('&')}`;
}

/**
 * Returns the secrets a connection string carries (the password, raw and decoded, and every option value not known
 * to be harmless), so they can be scrubbed from text that does not contain the whole URI. For a malformed string,
 * every part that could be a password or an option value.
 */
export function secretsOfUri(uri: string): string[] {
  const secrets: string[] = [];
  const parts = uriParts(uri);
  if (parts) {
    addSecret(secrets, parts.password);
    const query = parts.rest.indexOf('?');
    if (query !== -1) addOptionSecrets(secrets, parts.rest.slice(query + 1));
    return secrets;
  }
  // Malformed (or no scheme at all): whatever sits between the first ':' of the user info and any '@' may be a
  // password, and any key=value pair an option.
  const schemeEnd = uri.indexOf('://');
  const body = schemeEnd === -1 ? uri : uri.slice(schemeEnd + 3);
  const colon = body.search(/:/);
  for (let at = body.indexOf('@'); at !== -1; at = body.indexOf('@', at + 1)) {
    if (colon !== -1 && colon < at) addSecret(secrets, body.slice(colon + 1, at));
    addSecret(secrets, body.slice(0, at));
  }
  addOptionSecrets(secrets, body.replace(/^[^?]*\?/, ''));
  return secrets;
}

function addOptionSecrets(secrets: string[], query: string): void {
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || isHarmlessOption(pair.slice(0, eq))) continue;
    const value = pair.slice(eq + 1);
    addSecret(secrets, value);
    // authMechanismProperties=AWS_SESSION_TOKEN:<token>,...: the token may be quoted alone.
    for (const property of safeDecode(value).split(',')) addSecret(secrets, property.slice(property.indexOf(':') + 1));
  }
}

/** Adds a secret in every spelling it may appear in: as written, percent-decoded and percent-encoded. */
export function addSecret(secrets: string[], secret: string | undefined): void {
  // Very short strings would redact ordinary words; a one- or two-character password is not worth hiding.
  if (!secret || secret.length < 3) return;
  const spellings = new Set([secret, safeDecode(secret), encodeURIComponent(safeDecode(secret))]);
  for (const spelling of spellings) if (!secrets.includes(spelling)) secrets.push(spelling);
}

/**
 * Redacts every connection string found in `text` and every occurrence of the given secrets: internal, e.g.
 * `redactText('cannot reach mongodb://a:b0b@h/x', [])` gives `'cannot reach mongodb://a:****@h/x'`.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let result = text.replace(URI_PATTERN, (uri) => redactUri(uri));
  // Longest first, so a secret that contains another is replaced whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret) result = result.split(secret).join(REDACTED);
  }
  return result;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
