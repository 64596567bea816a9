/**
 * Local AWS Lambda emulator for tests: runs a handler under the real AWS Lambda Runtime Interface Client
 * (aws-lambda-ric v4) on the Lambda Node.js major, against a local Runtime API, with freeze/thaw.
 *
 *   const fn = await startLambdaContainer({ entry: 'test/fixtures/emulator/echo.ts' });
 *   const r = await fn.invoke({ hello: 'world' });       // { ok, result | error, requestId, durationMs }
 *   const r2 = await fn.invokeAfterFreeze({}, 5_000);     // SIGSTOP while parked on /next, deliver, SIGCONT
 *   afterAll(() => stopAllLambdaContainers());
 *
 * Set LAMBDA_EMULATOR_DEBUG=1 to echo container output to stderr.
 */
export {
  type InvokeResult,
  type LambdaContainer,
  LambdaContainerExitedError,
  type LambdaContainerOptions,
  LambdaInitError,
  procState,
  type ShutdownResult,
  startLambdaContainer,
  stopAllLambdaContainers,
} from './container.js';
export { bundleHandler, type HandlerBundle, PROJECT_ROOT } from './bundle.js';
export { type Gate, startGate } from './gate.js';
export type { RuntimeApiStats } from './runtime-api.js';
