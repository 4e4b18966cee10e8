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
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
# The report's browser test (test/interop/report-browser.test.ts) drives Debian's chromium; never a browser download.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# A CJK font, so that Chinese names show as written in the report's screenshot and PDF artefacts.
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need_apt+=(fonts-wqy-zenhei)
# The OCI registry tests (test/support/registry.ts): Debian's docker-registry (distribution 2.8),
# started by the tests themselves on loopback ports (its Debian service is not used), and htpasswd
# (apache2-utils) for its basic-auth mode.
command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need_apt+=(apache2-utils)
# cmake and a C++ compiler build llama-server, the gate tests' upstream (the inference peers block below).
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "setup: need root to apt-get install ${need_apt[*]}" >&2; exit 1; fi
  echo "setup: apt-get install ${need_apt[*]}" >&2
  apt-get update -qq >"$PEERS/apt-update.log" 2>&1 || { cat "$PEERS/apt-update.log" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >"$PEERS/apt-install.log" 2>&1 \
    || { cat "$PEERS/apt-install.log" >&2; exit 1; }
fi
# docker-registry's Debian package enables a service on :5000 on every interface (where systemd
# runs); the tests start registries of their own on loopback, so the service this setup just
# installed is stopped and disabled.
if [[ " ${need_apt[*]} " == *" docker-registry "* ]] && [ -d /run/systemd/system ]; then
  systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
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
# MLflow and huggingface_hub (brief M, issue 22): `mlflow register` runs against a real `mlflow server`
# (with its basic-auth app, which needs flask_wtf); `hf export`'s model card is parsed with huggingface_hub's ModelCard.
"$VENV/bin/python" -W ignore -c 'import mlflow, mlflow.server.auth, flask_wtf, huggingface_hub' && [ -x "$VENV/bin/mlflow" ] \
  || { echo "setup: mlflow or huggingface_hub did not import; see $PEERS/pip.log" >&2; exit 1; }
# Go peers: small programs under test/peers/<name>, built with their modules from the Go module
# proxy into $PEERS/<name>-<hash>, named by the hash of their source (go.mod, go.sum, main.go) so
# that checkouts with different versions can share $PEERS; the tests compute the same name.
GO=$(command -v go || echo /usr/local/go/bin/go)
go_peer() { # <name> <what it is, for messages> <modules it takes from the proxy>
  local src=test/peers/$1 want out
  want=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -d' ' -f1)
  out=$PEERS/$1-${want:0:16}
  [ -x "$out" ] && [ "$(cat "$out.sha256" 2>/dev/null)" = "$want" ] && return 0
  [ -x "$GO" ] || { echo "setup: Go (1.26 or newer) is needed to build $2 $src; install it from go.dev/dl" >&2; exit 1; }
  echo "setup: building $out with $("$GO" version) ($3 from the Go module proxy)" >&2
  (cd "$src" && "$GO" build -o "../../../$out" .) >"$PEERS/go-build-$1.log" 2>&1 \
    || { cat "$PEERS/go-build-$1.log" >&2; exit 1; }
  echo "$want" >"$out.sha256"
}
# The independent log verifier, on golang.org/x/mod/sumdb (test/interop/tlog-go.test.ts).
go_peer tlogcheck 'the log cross-check' golang.org/x/mod
# --- ocicrypt (brief K, issue 22 part 4) ---
# The container-layer peer, on github.com/containers/ocicrypt (its latest release, v1.3.2): it
# encrypts and decrypts a layer through the key providers of $OCICRYPT_KEYPROVIDER_CONFIG
# (test/interop/keyprovider.test.ts names `modelseal keyprovider`).
go_peer ocicryptcheck 'the ocicrypt peer' github.com/containers/ocicrypt
# --- end ocicrypt ---
# The oras CLI, the registry tests' independent OCI client (test/support/registry.ts orasBin()):
# built with `go install` through the Go module proxy, into .peers/oras-<version> so that a changed
# test/peers/oras.version rebuilds it (and checkouts with different versions can share $PEERS).
ORAS_VERSION=$(tr -d '[:space:]' <test/peers/oras.version)
ORAS=$PEERS/oras-$ORAS_VERSION
if [ ! -x "$ORAS" ]; then
  [ -x "$GO" ] || { echo "setup: Go (1.22 or newer) is needed to build oras $ORAS_VERSION; install it from go.dev/dl" >&2; exit 1; }
  echo "setup: building $ORAS (go install oras.land/oras/cmd/oras@$ORAS_VERSION)" >&2
  orasbin=$(mktemp -d "$PEERS/oras-build.XXXXXX")
  GOBIN=$PWD/$orasbin "$GO" install "oras.land/oras/cmd/oras@$ORAS_VERSION" >"$PEERS/oras-build.log" 2>&1 \
    || { cat "$PEERS/oras-build.log" >&2; rm -rf "$orasbin"; exit 1; }
  mv "$orasbin/oras" "$ORAS"
  rm -rf "$orasbin"
fi
"$ORAS" version 2>/dev/null | grep -q "^Version: *${ORAS_VERSION#v}\$" \
  || { echo "setup: $ORAS is not oras $ORAS_VERSION; delete it and run setup again" >&2; exit 1; }
# --- inference peers (brief P, issue 23) ---
# llama.cpp's llama-server, the gate's real upstream, built with cmake from the llama.cpp source that the
# llama-cpp-python sdist on PyPI carries (vendor/llama.cpp), with no network at build time: no curl, no
# OpenSSL, no web UI (neither built nor fetched), only the tools (the server among them), shared libraries
# so that llama-cpp-python's bindings load the same libllama instead of compiling it again. The sdist comes
# through the venv's pip into $PEERS/llama-src; the build lives in $PEERS/llama-<version>-<hash>, named by
# the hash of test/peers/llama.version and test/peers/llama.cmake (the cmake options, one a line), which
# test/support/llama.ts computes too; its `ok` file says the build finished.
LLAMA_VERSION=$(tr -d '[:space:]' <test/peers/llama.version)
LLAMA_HASH=$(cat test/peers/llama.version test/peers/llama.cmake | sha256sum | cut -c1-16)
LLAMA_DIR=$PEERS/llama-$LLAMA_VERSION-$LLAMA_HASH
LLAMA_SRC=$PEERS/llama-src/llama_cpp_python-$LLAMA_VERSION
LLAMA_SDIST=$PEERS/llama-src/llama_cpp_python-$LLAMA_VERSION.tar.gz
if [ ! -f "$LLAMA_SDIST" ]; then
  echo "setup: pip download llama-cpp-python==$LLAMA_VERSION (sdist)" >&2
  sdist_tmp=$(mktemp -d "$PEERS/llama-sdist.XXXXXX")
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
    "llama-cpp-python==$LLAMA_VERSION" -d "$sdist_tmp" >"$PEERS/llama-download.log" 2>&1 \
    || { cat "$PEERS/llama-download.log" >&2; rm -rf "$sdist_tmp"; exit 1; }
  mkdir -p "$PEERS/llama-src"
  mv "$sdist_tmp/llama_cpp_python-$LLAMA_VERSION.tar.gz" "$LLAMA_SDIST"
  rm -rf "$sdist_tmp"
fi
if [ ! -f "$LLAMA_SRC/vendor/llama.cpp/CMakeLists.txt" ]; then
  src_tmp=$(mktemp -d "$PEERS/llama-src/unpack.XXXXXX")
  tar -xzf "$LLAMA_SDIST" -C "$src_tmp"
  rm -rf "$LLAMA_SRC"
  mv "$src_tmp/llama_cpp_python-$LLAMA_VERSION" "$LLAMA_SRC"
  rm -rf "$src_tmp"
fi
if [ ! -f "$LLAMA_DIR/ok" ]; then
  echo "setup: building llama-server $LLAMA_VERSION into $LLAMA_DIR (cmake, -j2; minutes)" >&2
  command -v cmake >/dev/null 2>&1 && command -v c++ >/dev/null 2>&1 \
    || { echo "setup: cmake and a C++ compiler are needed to build llama-server (apt-get install cmake g++)" >&2; exit 1; }
  rm -rf "$LLAMA_DIR"
  mkdir -p "$LLAMA_DIR"
  start=$SECONDS
  mapfile -t llama_opts < <(grep -v '^\s*\(#\|$\)' test/peers/llama.cmake)
  { cmake -S "$LLAMA_SRC/vendor/llama.cpp" -B "$LLAMA_DIR/build" "${llama_opts[@]}" \
      && cmake --build "$LLAMA_DIR/build" --target llama-server -j2; } >"$PEERS/llama-build.log" 2>&1 \
    || { tail -n 40 "$PEERS/llama-build.log" >&2; exit 1; }
  "$LLAMA_DIR/build/bin/llama-server" --version >/dev/null 2>&1 \
    || { echo "setup: $LLAMA_DIR/build/bin/llama-server does not run; see $PEERS/llama-build.log" >&2; exit 1; }
  echo "$((SECONDS - start))" >"$LLAMA_DIR/build-seconds"
  touch "$LLAMA_DIR/ok"
fi
# The test model: a tiny llama with random weights and llama.cpp's own tokenizer (test/peers/make-tiny-llama.py,
# seeded, so the same bytes everywhere), named by the hash of the script and the version it takes the vocabulary from.
LLAMA_MODEL=$PEERS/llama-tiny-$(cat test/peers/make-tiny-llama.py test/peers/llama.version | sha256sum | cut -c1-16).gguf
if [ ! -f "$LLAMA_MODEL" ]; then
  "$VENV/bin/python" test/peers/make-tiny-llama.py "$LLAMA_SRC/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf" "$LLAMA_MODEL" \
    || { echo "setup: test/peers/make-tiny-llama.py failed" >&2; exit 1; }
fi
# llama-cpp-python's OpenAI-compatible server (its streaming sends no usage chunk: the gate's estimated path),
# installed from the same sdist with its own build of llama.cpp switched off (-DLLAMA_BUILD=OFF): it loads the
# libllama built above through LLAMA_CPP_LIB_PATH (test/support/llama.ts sets it). And the openai Python SDK,
# the standard client of the gate tests. Both pinned here rather than in requirements.txt, whose change would
# rebuild the whole shared venv.
OPENAI_VERSION=3.63.0
have=$("$VENV/bin/python" -c 'import importlib.metadata as m
try: print(m.version("llama_cpp_python"), m.version("openai"), m.version("sse_starlette"))
except m.PackageNotFoundError: print("-")' 2>/dev/null || true)
if [ "${have% *}" != "$LLAMA_VERSION $OPENAI_VERSION" ]; then
  echo "setup: pip install llama-cpp-python[server]==$LLAMA_VERSION (on the llama.cpp built above) openai==$OPENAI_VERSION" >&2
  CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" "$VENV/bin/pip" install -q --disable-pip-version-check \
    "llama_cpp_python[server] @ file://$PWD/$LLAMA_SDIST" "openai==$OPENAI_VERSION" >"$PEERS/llama-pip.log" 2>&1 \
    || { cat "$PEERS/llama-pip.log" >&2; exit 1; }
fi
LLAMA_CPP_LIB_PATH=$PWD/$LLAMA_DIR/build/bin "$VENV/bin/python" -c 'import llama_cpp.server.app, openai' \
  || { echo "setup: llama_cpp.server or openai did not import; see $PEERS/llama-pip.log" >&2; exit 1; }
# --- end inference peers ---
# PostgreSQL, the shared log store of several servers: a cluster of our own on 127.0.0.1:54329
# (and a socket folder of its own), trust auth on loopback only, fsync on. PostgreSQL refuses to
# run as root, so as root the cluster belongs to the `postgres` system user, which must be able to
# reach it: it lives in .peers/postgres unless that path is not traversable for that user (or too
# long for a socket path), then in /tmp/modelseal-pg-<uid>. The URL the tests use goes to
# .peers/postgres.url. A lock keeps two setups (two test runs in one tree) from racing; the server
# must not inherit it.
PGBIN=$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -1)")
PGPORT=54329
as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
PGROOT=$PWD/$PEERS/postgres
if [ ${#as_pg[@]} -gt 0 ] && ! runuser -u postgres -- test -x "$PWD/$PEERS"; then PGROOT=/tmp/modelseal-pg-$(id -u); fi
[ ${#PGROOT} -gt 80 ] && PGROOT=/tmp/modelseal-pg-$(id -u)
PGDATA_DIR=$PGROOT/data
PGLOG=$PGROOT/server.log
pg_tail() { echo "setup: PostgreSQL did not start; the end of $PGLOG:" >&2; tail -n 30 "$PGLOG" >&2 2>/dev/null || true; exit 1; }
(
  flock -w 300 9 || { echo "setup: another setup holds $PEERS/postgres.lock" >&2; exit 1; }
  # Another checkout's test cluster may already serve this port: use it (same user, trust auth).
  if "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U modelseal -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
    reuse=1
  else
    reuse=0
  fi
  if [ "$reuse" = 0 ] && [ ! -d "$PGROOT" ]; then
    mkdir -p "$PGROOT/run"
    [ ${#as_pg[@]} -gt 0 ] && chown -R postgres: "$PGROOT"
    chmod 700 "$PGROOT"
  fi
  if [ "$reuse" = 0 ] && [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
    echo "setup: initdb $PGDATA_DIR ($("$PGBIN/postgres" --version))" >&2
    rm -rf "$PGDATA_DIR"
    "${as_pg[@]}" "$PGBIN/initdb" -D "$PGDATA_DIR" -U modelseal --auth=trust -E UTF8 --locale=C.UTF-8 >"$PEERS/initdb.log" 2>&1 \
      || { cat "$PEERS/initdb.log" >&2; exit 1; }
    # Loopback TCP and the socket only; nothing else may connect.
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' | "${as_pg[@]}" tee "$PGDATA_DIR/pg_hba.conf" >/dev/null
  fi
  if [ "$reuse" = 0 ] && ! "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
    echo "setup: starting PostgreSQL on 127.0.0.1:$PGPORT ($PGDATA_DIR)" >&2
    "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGLOG" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGROOT/run -c fsync=on -c synchronous_commit=on" start >/dev/null 2>&1 9>&- || pg_tail
  fi
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" -t 30 || pg_tail
  psql_pg=("$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U modelseal -v ON_ERROR_STOP=1)
  if [ -z "$("${psql_pg[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'modelseal_test'")" ]; then
    "${psql_pg[@]}" -d postgres -c 'CREATE DATABASE modelseal_test' || pg_tail
  fi
  echo "postgres://modelseal@127.0.0.1:$PGPORT/modelseal_test" >"$PEERS/postgres.url"
) 9>"$PEERS/postgres.lock"
PG_VERSION=$("$PGBIN/psql" -X -h 127.0.0.1 -p "$PGPORT" -U modelseal -d modelseal_test -tAc 'SHOW server_version' | cut -d' ' -f1)
echo "setup: peers ready (age $(age --version), $(softhsm2-util --version | head -1 | sed 's/^/softhsm2 /'), $("$VENV/bin/python" -c 'import model_signing,safetensors;print("model-signing", model_signing.__version__ if hasattr(model_signing,"__version__") else "?", "safetensors", safetensors.__version__)'), PostgreSQL $PG_VERSION, $(/usr/bin/chromium --version 2>/dev/null | head -1), $(docker-registry --version | cut -d' ' -f2-), oras $ORAS_VERSION, llama-server and llama-cpp-python $LLAMA_VERSION)" >&2
