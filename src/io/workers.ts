// Where worker threads' scripts are, for the crypto pool (src/crypto/pool.ts) and the release
// service's decider (src/server/decider.ts). A module of its own, so the decider's thread does not
// load the crypto pool's module and its bulk code (src/crypto/bulk.ts), which it never runs.

/**
 * The worker script `file` next to the module at `moduleUrl`. Under the TypeScript test runner
 * modules are loaded from src/*.ts; the worker then runs the compiled copy under dist/ (npm test
 * builds first), since worker threads do not go through the TS loader.
 */
export function workerUrl(moduleUrl: string, file: string): URL {
  const src = moduleUrl.lastIndexOf('/src/');
  return new URL(
    file,
    moduleUrl.endsWith('.ts') ? `${moduleUrl.slice(0, src)}/dist${moduleUrl.slice(src)}` : moduleUrl,
  );
}
