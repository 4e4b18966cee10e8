// Bundles the compiled CLI (and its three worker threads) into single files: Node 20's ES module
// loader spends ~40 ms loading the ~50 separate modules at every start, a third of a small command's
// time.
// Runs after tsc (npm run build); the library entry (dist/src/index.js) stays unbundled.
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // Loaded only when used, from node_modules: the AWS SDK (a KMS key), pkcs11js (an HSM; native),
  // Cedar (WebAssembly, read from next to its module), pg (a PostgreSQL log store; its optional
  // libpq binding, pg-native, is never installed) and node-forge (issuing X.509 certificates; half
  // the bundle otherwise, ~15 ms of every start).
  external: [
    '@aws-sdk/*',
    'pkcs11js',
    '@cedar-policy/cedar-wasm',
    '@cedar-policy/cedar-wasm/*',
    'pg',
    'pg-native',
    'node-forge',
  ],
  // commander is CommonJS; its require() of Node built-ins needs a real require in an ES module.
  banner: {
    js:
      "import { createRequire as __modelsealRequire } from 'node:module'; const require = " +
      '__modelsealRequire(import.meta.url);',
  },
};
await build({ ...common, entryPoints: ['dist/cli/modelseal.js'], outfile: 'dist/cli/modelseal.bundle.mjs' });
// Each worker runs from next to the module that starts it: here, next to the CLI bundle.
await build({ ...common, entryPoints: ['dist/src/crypto/worker.js'], outfile: 'dist/cli/worker.js' });
// Sealing with a transform (a fingerprint) starts this one instead: the same loop, with the transforms registered.
await build({ ...common, entryPoints: ['dist/src/package/seal-worker.js'], outfile: 'dist/cli/seal-worker.js' });
await build({ ...common, entryPoints: ['dist/src/server/decider-thread.js'], outfile: 'dist/cli/decider-thread.js' });
