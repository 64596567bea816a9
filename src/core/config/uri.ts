/**
 * Reading a connection string without the driver: its scheme, the options in its query, the database in its
 * path. One parser for every layer (the defaults the URI overrides, an adapter's checks, error messages).
 */

/** Whether the string starts like a MongoDB connection string. */
export function hasMongoScheme(uri: string): boolean {
  return /^mongodb(\+srv)?:\/\//i.test(uri);
}

/** The option names in the URI's query, percent-decoded, in the caller's spelling. */
export function queryKeysOf(uri: string): string[] {
  return [...uriOptionsOf(uri).keys()];
}

/**
 * The URI's query options: name (percent-decoded, as written) → raw value. The query starts at the first `?`
 * after the host list (a `?` or `@` inside the user info does not count).
 */
export function uriOptionsOf(uri: string): Map<string, string> {
  const options = new Map<string, string>();
  const query = uri.indexOf('?', authorityStartOf(uri));
  if (query === -1) return options;
  for (const pair of uri.slice(query + 1).split('&')) {
    const equals = pair.indexOf('=');
    const key = safeDecode(equals === -1 ? pair : pair.slice(0, equals));
    if (key !== '') options.set(key, equals === -1 ? '' : pair.slice(equals + 1));
  }
  return options;
}

/** The value of a URI option, names compared case-insensitively as the driver does. */
export function uriOption(uri: string, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of uriOptionsOf(uri)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** The database named in the URI's path, if any. */
export function databaseOfUri(uri: string): string | undefined {
  if (uri.indexOf('://') === -1) return undefined;
  const authorityStart = authorityStartOf(uri);
  const slash = uri.indexOf('/', authorityStart);
  if (slash === -1) return undefined;
  const query = uri.indexOf('?', slash);
  const path = uri.slice(slash + 1, query === -1 ? undefined : query);
  if (path === '') return undefined;
  return safeDecode(path);
}

/**
 * The driver's own split of a connection string (mongodb-connection-string-url): the user info ends at the first
 * `@` (user names hold no `:` or `@`, passwords no `@`), the host list holds no `/`, `?` or `@`.
 */
const URI_PARTS = /^(?<scheme>[^/]+):\/\/(?:(?<userinfo>[^:@]*(?::[^@]*)?)@)?(?<hosts>(?!:)[^/?@]*)/;

/** Where the host list starts (0 when the string is no URI at all). */
function authorityStartOf(uri: string): number {
  const match = URI_PARTS.exec(uri);
  if (!match?.groups) return 0;
  return match[0].length - (match.groups.hosts ?? '').length;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
