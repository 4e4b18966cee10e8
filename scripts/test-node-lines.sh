#!/usr/bin/env bash
# Runs the unit and CLI tests (test/unit, test/cli) on other Node.js release lines than the machine's,
# one after another, and says how long each took:
#   bash scripts/test-node-lines.sh 22 24 26     (npm run test:node -- 24; no argument: 22 24 26)
# Each line's pinned binary comes from test/peers/node.sh and goes first on PATH, so vitest's workers
# and every CLI process a test starts (process.execPath) run on it too. dist/ must be built (npm test
# or npm run build does, on the machine's Node: what tsc and esbuild emit does not depend on the Node
# that runs them) and the peers set up (bash test/peers/setup.sh; npm test does).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 22 24 26
[ -f dist/cli/modelseal.bundle.mjs ] && [ -f dist/src/index.js ] \
  || { echo "test:node: dist/ is missing: run \`npm run build\` first" >&2; exit 1; }

mapfile -t bins < <(bash test/peers/node.sh "$@")
[ ${#bins[@]} -eq $# ] || { echo "test:node: test/peers/node.sh did not bring every line asked ($*)" >&2; exit 1; }
for bin in "${bins[@]}"; do
  v=$("$bin" -v)
  # The one native addon, pkcs11js, is built once by npm ci against Node-API, whose ABI every line
  # shares; if it ever stops loading on a line, say so here rather than in a dozen HSM tests.
  "$bin" -e 'require("pkcs11js")' \
    || { echo "test:node: pkcs11js (native) does not load on Node $v (above): the HSM tests would fail" >&2; exit 1; }
  echo "test:node: test/unit and test/cli on Node $v" >&2
  start=$SECONDS
  PATH="$(dirname "$bin"):$PATH" "$bin" node_modules/vitest/vitest.mjs run test/unit test/cli
  echo "test:node: Node $v: test/unit and test/cli passed in $((SECONDS - start)) s" >&2
done
