/**
 * Redaction of connection strings and secrets, applied to every log record and error message.
 *
 * `mongodb://alice:s3cret@host/db?authMechanismProperties=AWS_SESSION_TOKEN:abc`
 * becomes `mongodb://alice:****@host/db?authMechanismProperties=****`.
 */

/** What replaces a secret. */
export const REDACTED = '****';

/** Query parameters of a connection string whose values are secrets. */
const SECRET_PARAMETERS = ['authMechanismProperties', 'tlsCertificateKeyFilePassword', 'proxyPassword', 'password'];

const URI_PATTERN = /\bmongodb(?:\+srv)?:\/\/[^\s"'`<>]+/gi;

/**
 * Returns the connection string with its password and secret query parameters replaced by `****`.
 * The user name, hosts, database and other options stay readable for debugging.
 *
 * @example
 * ```ts
 * redactUri('mongodb://app:pa55@db.example.net/orders'); // 'mongodb://app:****@db.example.net/orders'
 * ```
 */
export function redactUri(uri: string): string {
  const schemeEnd = uri.indexOf('://');
  if (schemeEnd === -1) return uri;
  const afterScheme = schemeEnd + 3;
  // The authority ends at the first '/' or '?' after the last '@' (passwords may contain '/' or '?'
  // only percent-encoded, but a malformed URI may hold them raw, so search for '@' first).
  const at = uri.lastIndexOf('@');
  let result = uri;
  if (at > afterScheme) {
    const userInfo = uri.slice(afterScheme, at);
    const colon = userInfo.indexOf(':');
    const user = colon === -1 ? userInfo : userInfo.slice(0, colon);
    result = `${uri.slice(0, afterScheme)}${colon === -1 ? user : `${user}:${REDACTED}`}${uri.slice(at)}`;
  }
  const query = result.indexOf('?');
  if (query === -1) return result;
  const head = result.slice(0, query + 1);
  const params = result
    .slice(query + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq === -1 ? pair : pair.slice(0, eq);
      return eq !== -1 && SECRET_PARAMETERS.some((name) => name.toLowerCase() === key.toLowerCase())
        ? `${key}=${REDACTED}`
        : pair;
    });
  return head + params.join('&');
}

/**
 * Returns the secrets a connection string carries (the password, raw and decoded, and secret query
 * values), so they can be scrubbed from text that does not contain the whole URI.
 */
export function secretsOfUri(uri: string): string[] {
  const secrets: string[] = [];
  const schemeEnd = uri.indexOf('://');
  if (schemeEnd === -1) return secrets;
  const at = uri.lastIndexOf('@');
  if (at > schemeEnd + 3) {
    const userInfo = uri.slice(schemeEnd + 3, at);
    const colon = userInfo.indexOf(':');
    if (colon !== -1) addSecret(secrets, userInfo.slice(colon + 1));
  }
  const query = uri.indexOf('?', at === -1 ? 0 : at);
  if (query !== -1) {
    for (const pair of uri.slice(query + 1).split('&')) {
      const eq = pair.indexOf('=');
      if (eq === -1) continue;
      const key = pair.slice(0, eq).toLowerCase();
      if (SECRET_PARAMETERS.some((name) => name.toLowerCase() === key)) addSecret(secrets, pair.slice(eq + 1));
    }
  }
  return secrets;
}

/** Adds a secret in every spelling it may appear in: as written, percent-decoded and percent-encoded. */
export function addSecret(secrets: string[], secret: string | undefined): void {
  // Very short strings would redact ordinary words; a one- or two-character password is not worth hiding.
  if (!secret || secret.length < 3) return;
  const spellings = new Set([secret, safeDecode(secret), encodeURIComponent(safeDecode(secret))]);
  for (const spelling of spellings) if (!secrets.includes(spelling)) secrets.push(spelling);
}

/**
 * Redacts every connection string found in `text` and every occurrence of the given secrets.
 *
 * @example
 * ```ts
 * redactText('cannot reach mongodb://a:b0b@h/x', []); // 'cannot reach mongodb://a:****@h/x'
 * ```
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
