#!/usr/bin/env bash
# Installs the real peers the test suite talks to, idempotently. Never assume they exist:
# a fresh machine has none of them. Everything lands in .peers/ (git-ignored) except Debian packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
PEERS=.peers
mkdir -p "$PEERS"

need_apt=()
command -v age >/dev/null 2>&1 || need_apt+=(age)
command -v softhsm2-util >/dev/null 2>&1 || need_apt+=(softhsm2)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "setup: need root to apt-get install ${need_apt[*]}" >&2; exit 1; fi
  echo "setup: apt-get install ${need_apt[*]}" >&2
  apt-get update -qq >"$PEERS/apt-update.log" 2>&1 || { cat "$PEERS/apt-update.log" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >"$PEERS/apt-install.log" 2>&1 \
    || { cat "$PEERS/apt-install.log" >&2; exit 1; }
fi

VENV=$PEERS/venv
REQ=test/peers/requirements.txt
stamp=$VENV/.requirements.sha256
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating $VENV with $(grep -v '^#' "$REQ" | tr '\n' ' ')" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" >"$PEERS/pip.log" 2>&1 \
    || { cat "$PEERS/pip.log" >&2; exit 1; }
  echo "$want" >"$stamp"
fi
"$VENV/bin/python" -c 'import model_signing, safetensors, numpy' \
  || { echo "setup: the Python peers did not import; see $PEERS/pip.log" >&2; exit 1; }
"$VENV/bin/python" -c 'import moto' || { echo "setup: moto did not import; see $PEERS/pip.log" >&2; exit 1; }
# The independent log verifier: a small Go program on golang.org/x/mod/sumdb (Go module proxy).
GO=$(command -v go || echo /usr/local/go/bin/go)
TLOGCHECK=$PEERS/tlogcheck
want=$(cat test/peers/tlogcheck/go.mod test/peers/tlogcheck/go.sum test/peers/tlogcheck/main.go | sha256sum | cut -d' ' -f1)
if [ ! -x "$TLOGCHECK" ] || [ "$(cat "$TLOGCHECK.sha256" 2>/dev/null)" != "$want" ]; then
  [ -x "$GO" ] || { echo "setup: Go (1.22 or newer) is needed to build the log cross-check test/peers/tlogcheck; install it from go.dev/dl" >&2; exit 1; }
  echo "setup: building $TLOGCHECK with $("$GO" version) (golang.org/x/mod from the Go module proxy)" >&2
  (cd test/peers/tlogcheck && "$GO" build -o "../../../$TLOGCHECK" .) >"$PEERS/go-build.log" 2>&1 \
    || { cat "$PEERS/go-build.log" >&2; exit 1; }
  echo "$want" >"$TLOGCHECK.sha256"
fi
echo "setup: peers ready (age $(age --version), $(softhsm2-util --version | head -1 | sed 's/^/softhsm2 /'), $("$VENV/bin/python" -c 'import model_signing,safetensors;print("model-signing", model_signing.__version__ if hasattr(model_signing,"__version__") else "?", "safetensors", safetensors.__version__)'))" >&2
