/**
 * `serverless-mongodb/esbuild`: esbuild settings for Lambda and Workers bundles that contain the MongoDB driver,
 * with the trims that cut the bundle's cold import time (see src/build/esbuild.ts for each and its measurement).
 */
export {
  DEFERRED_DRIVER_MODULES,
  LAMBDA_EXTERNALS,
  lambdaBundleOptions,
  mongodbTrims,
  workerBundleOptions,
  workerdNodeBuiltins,
  type DeferredModule,
  type LambdaBundleOptions,
  type MongodbTrimOptions,
} from './build/esbuild.js';
