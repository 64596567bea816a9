/**
 * The first invocation over TLS with authentication, as Atlas connections are: SCRAM-SHA-256 (a user and password)
 * and MONGODB-AWS (IAM: the function's role credentials from the environment, the STS request signed by the driver
 * and verified by the wire server), for MongoDB's Lambda guide (bare driver, plain bundle) and this library (the
 * middy middleware, trimmed bundle), side by side, rotated each run. Measured without and with the fault proxy's
 * delay, so each row's **round trips** = the added time ÷ the round-trip time: the exchanges on the path from the
 * container's start to its first response.
 *
 * What the library's first call should cost: the work (a findOne and an insertOne, 2) plus the monitor's and the
 * pool's handshakes (each TCP, TLS 1.3 and a hello that carries the first authentication step), and nothing more.
 */
import { MongoClient, ObjectId } from 'mongodb';
import { startFaultProxy } from '../../test/support/fault-proxy.js';
import { TEST_TLS } from '../../test/support/tls.js';
import { startWireServer } from '../../test/support/wire-server/index.js';
import { benchEvent, DB_NAME, startFunction } from '../lib/rig.js';
import type { BuiltBundle, BundleKind, SetupName } from '../lib/setups.js';
import { median } from '../lib/stats.js';

const USER = { username: 'bench', password: 'bench-pässwörd' };
/** The role's credentials as Lambda puts them in the environment (fake: only the wire server checks them). */
const ROLE = { accessKeyId: 'ASIABENCHROLE0000001', secretAccessKey: 'bench-role-secret-access-key', sessionToken: 'bench-session-token' };

export type SecureAuth = 'SCRAM-SHA-256' | 'MONGODB-AWS';

export interface SecureFirstRow {
  key: string;
  label: string;
  setup: Extract<SetupName, 'guide' | 'library'>;
  kind: BundleKind;
  auth: SecureAuth;
}

export const SECURE_FIRST_ROWS: SecureFirstRow[] = [
  { key: 'guide-scram', label: 'guide, SCRAM-SHA-256 over TLS', setup: 'guide', kind: 'plain', auth: 'SCRAM-SHA-256' },
  { key: 'library-scram', label: 'library, SCRAM-SHA-256 over TLS', setup: 'library', kind: 'trimmed', auth: 'SCRAM-SHA-256' },
  { key: 'guide-aws', label: 'guide, MONGODB-AWS over TLS', setup: 'guide', kind: 'plain', auth: 'MONGODB-AWS' },
  { key: 'library-aws', label: 'library, MONGODB-AWS over TLS', setup: 'library', kind: 'trimmed', auth: 'MONGODB-AWS' },
];

export interface SecureFirstFigures {
  runs: number;
  oneWayLatencyMs: number;
  rows: Array<SecureFirstRow & { totalMs: number; latencyTotalMs: number; roundTrips: number; failures: number; firstError?: string }>;
}

export async function runSecureFirstInvocations(bundles: Map<string, BuiltBundle>, runs: number, oneWayLatencyMs: number, log: (line: string) => void): Promise<SecureFirstFigures> {
  const server = await startWireServer({ topology: 'replicaSet', tls: TEST_TLS, users: [USER] });
  server.setAwsCredentials([ROLE]);
  const proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
  server.setAdvertisedAddress(proxy.address);
  const scramUri = proxy.uriFor(server.uri).replace('mongodb://', `mongodb://${encodeURIComponent(USER.username)}:${encodeURIComponent(USER.password)}@`) + '&authSource=admin';
  const awsUri = `${proxy.uriFor(server.uri)}&authMechanism=MONGODB-AWS&authSource=%24external`;
  const seeder = new MongoClient(scramUri, { serverSelectionTimeoutMS: 5000 });
  const id = new ObjectId();
  await seeder.db(DB_NAME).collection('items').insertOne({ _id: id, name: 'seed' });
  await seeder.close();
  const roleEnv = { AWS_ACCESS_KEY_ID: ROLE.accessKeyId, AWS_SECRET_ACCESS_KEY: ROLE.secretAccessKey, AWS_SESSION_TOKEN: ROLE.sessionToken, AWS_EC2_METADATA_DISABLED: 'true' };
  const samples = new Map<string, { total: number[]; failures: number; firstError?: string }>();
  try {
    for (let run = 0; run < runs; run++) {
      for (const latency of [0, oneWayLatencyMs]) {
        proxy.setLatency(latency);
        for (let index = 0; index < SECURE_FIRST_ROWS.length; index++) {
          const row = SECURE_FIRST_ROWS[(run + index) % SECURE_FIRST_ROWS.length]!;
          const entry = samples.get(`${row.key}@${latency}`) ?? { total: [], failures: 0 };
          samples.set(`${row.key}@${latency}`, entry);
          const startedAt = performance.now();
          const fn = await startFunction(bundles.get(`${row.setup}-${row.kind}`)!, row.auth === 'MONGODB-AWS' ? awsUri : scramUri, row.auth === 'MONGODB-AWS' ? roleEnv : {}, 15_000);
          const result = await fn.invoke(benchEvent(id.toHexString()));
          const doneAt = performance.now();
          await fn.shutdown(100).catch(() => undefined);
          if (!result.ok) {
            entry.failures++;
            entry.firstError ??= `${result.error?.errorType}: ${result.error?.errorMessage}`;
            continue;
          }
          entry.total.push(doneAt - startedAt);
        }
      }
      log(`  first invocation over TLS with authentication: run ${run + 1}/${runs}`);
    }
  } finally {
    await proxy.stop();
    await server.stop();
  }
  const rtt = 2 * oneWayLatencyMs;
  return {
    runs,
    oneWayLatencyMs,
    rows: SECURE_FIRST_ROWS.map((row) => {
      const base = samples.get(`${row.key}@0`)!;
      const slow = samples.get(`${row.key}@${oneWayLatencyMs}`)!;
      const firstError = base.firstError ?? slow.firstError;
      return {
        ...row,
        totalMs: median(base.total),
        latencyTotalMs: median(slow.total),
        roundTrips: (median(slow.total) - median(base.total)) / rtt,
        failures: base.failures + slow.failures,
        ...(firstError ? { firstError } : {}),
      };
    }),
  };
}
