/**
 * The layers of src/, checked in CI (test/architecture.test.ts, `npm run check:boundaries`):
 *
 *   entry files (src/*.ts)  re-export only
 *   adapters/               middy, withMongo, Vercel, Workers: may use core/ and shared/
 *   http/                   protocol/ (operations, error codes, signing), client/, handler/
 *   core/                   config, client cache, invocation lifecycle, shutdown: may use shared/
 *   shared/                 errors, validation, Lambda context, logging: uses nothing above it
 *   build/                  esbuild settings: uses nothing of the library
 *
 * Type-only imports count too: a layer that names another's types depends on it.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'entry-files-are-not-imported',
      comment: 'Entry files only re-export; code inside src/ imports the module that defines a name, never an entry file.',
      severity: 'error',
      from: { path: '^src/.+/' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
    {
      name: 'shared-uses-nothing-above',
      comment: 'shared/ (errors, validation, logging) is the bottom layer.',
      severity: 'error',
      from: { path: '^src/shared/' },
      to: { path: '^src/(core|adapters|http|build)/' },
    },
    {
      name: 'core-imports-no-adapter',
      comment: 'core/ knows no platform: adapters pass their platform defaults to it as inputs.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/(adapters|http|build)/' },
    },
    {
      name: 'adapters-are-independent',
      comment: 'An adapter uses core/ and shared/, not another adapter (withMongo and middy share core/invocation).',
      severity: 'error',
      from: { path: '^src/adapters/([^/]+)' },
      to: { path: '^src/(adapters/|http/|build/)', pathNot: ['^src/adapters/$1', '^src/adapters/with-mongo\\.ts$'] },
    },
    {
      name: 'http-protocol-imports-no-driver',
      comment: 'The protocol (operations, error codes, signing) is shared by the client and the handler: no driver, no library code.',
      severity: 'error',
      from: { path: '^src/http/protocol/' },
      to: { path: '(^|/)node_modules/mongodb/|^mongodb$|^src/(core|adapters|http/client|http/handler|build)/' },
    },
    {
      name: 'http-client-imports-no-driver-or-handler',
      comment: 'The HTTP client runs where the driver cannot (browsers, edge): it uses the protocol and shared/ only.',
      severity: 'error',
      from: { path: '^src/http/client/' },
      to: { path: '(^|/)node_modules/mongodb/|^mongodb$|^src/(core|adapters|http/handler|build)/' },
    },
    {
      name: 'build-is-standalone',
      comment: 'The esbuild helper runs at build time: it imports nothing of the library.',
      severity: 'error',
      from: { path: '^src/build/' },
      to: { path: '^src/(core|shared|adapters|http)/' },
    },
    {
      name: 'no-circular',
      comment: 'A cycle (other than through type-only imports) means two modules are one job.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, dependencyTypesNot: ['type-only'], viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
