// The HTTP way in: a Lambda behind a Function URL (AuthType NONE: every request is HMAC-signed instead) that
// runs allow-listed operations for clients without TCP (Vercel Edge, Workers without nodejs_compat, ...).
//
// The signing secret lives in Secrets Manager and is read through the AWS Parameters and Secrets Lambda
// Extension (a layer; no SDK in the bundle), cached here for a minute so a rotation is picked up. During a
// rotation, return both the new and the previous secret.
import { createHttpHandler } from 'serverless-mongodb/http-handler';

const SECRET_ID = process.env.MONGODB_HTTP_SECRET_ID!; // the secret's name or ARN
let cached: { value: string; until: number } | undefined;

async function signingSecret(): Promise<string> {
  if (cached && cached.until > Date.now()) return cached.value;
  const response = await fetch(`http://localhost:2773/secretsmanager/get?secretId=${encodeURIComponent(SECRET_ID)}`, {
    headers: { 'X-Aws-Parameters-Secrets-Token': process.env.AWS_SESSION_TOKEN! },
  });
  if (!response.ok) throw new Error(`Secrets Manager extension answered ${response.status}`);
  const { SecretString } = (await response.json()) as { SecretString: string };
  cached = { value: SecretString, until: Date.now() + 60_000 };
  return SecretString;
}

// MONGODB_URI from the environment (or pass `uri`); the client is the core's cached one.
export const handler = createHttpHandler({
  allow: { shop: ['items', 'orders'] },
  secret: signingSecret,
  maxBodyBytes: 256 * 1024,
  timeoutMs: 5_000,
  maxDocuments: 500,
});
