/**
 * A TLS identity for the wire server on 127.0.0.1: a self-signed certificate (its own CA, subjectAltName
 * IP:127.0.0.1 and DNS:localhost, valid until 2126) and its key, in test/fixtures/tls/. Test-only material: it
 * protects nothing. Made with:
 *   openssl req -x509 -newkey rsa:2048 -nodes -keyout server.key -out server.crt -days 36500 \
 *     -subj "/CN=serverless-mongodb test server" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost"
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: the nearest folder with a package.json (this module also runs bundled, from .tmp/). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const DIR = join(projectRoot(), 'test', 'fixtures', 'tls');

/** Pass as `startWireServer({ tls: TEST_TLS })`: its `uri` then verifies the server with `tlsCAFile`. */
export const TEST_TLS = {
  key: readFileSync(join(DIR, 'server.key')),
  cert: readFileSync(join(DIR, 'server.crt')),
  caFile: join(DIR, 'server.crt'),
} as const;
