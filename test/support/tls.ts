/**
 * A TLS identity for the wire server on 127.0.0.1: a self-signed certificate (its own CA, subjectAltName
 * IP:127.0.0.1 and DNS:localhost, valid until 2126) and its key, in test/fixtures/tls/. Test-only material: it
 * protects nothing. Made with:
 *   openssl req -x509 -newkey rsa:2048 -nodes -keyout server.key -out server.crt -days 36500 \
 *     -subj "/CN=serverless-mongodb test server" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost"
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './lambda-emulator/bundle.js';

const DIR = join(PROJECT_ROOT, 'test', 'fixtures', 'tls');

/** Pass as `startWireServer({ tls: TEST_TLS })`: its `uri` then verifies the server with `tlsCAFile`. */
export const TEST_TLS = {
  key: readFileSync(join(DIR, 'server.key')),
  cert: readFileSync(join(DIR, 'server.crt')),
  caFile: join(DIR, 'server.crt'),
} as const;
