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
# The independent log verifier: a small Go program on golang.org/x/mod/sumdb (Go module proxy).
GO=$(command -v go || echo /usr/local/go/bin/go)
# Named by the hash of its source, so checkouts with different versions of it can share $PEERS
# (test/interop/tlog-go.test.ts computes the same name).
want=$(cat test/peers/tlogcheck/go.mod test/peers/tlogcheck/go.sum test/peers/tlogcheck/main.go | sha256sum | cut -d' ' -f1)
TLOGCHECK=$PEERS/tlogcheck-${want:0:16}
if [ ! -x "$TLOGCHECK" ] || [ "$(cat "$TLOGCHECK.sha256" 2>/dev/null)" != "$want" ]; then
  [ -x "$GO" ] || { echo "setup: Go (1.22 or newer) is needed to build the log cross-check test/peers/tlogcheck; install it from go.dev/dl" >&2; exit 1; }
  echo "setup: building $TLOGCHECK with $("$GO" version) (golang.org/x/mod from the Go module proxy)" >&2
  (cd test/peers/tlogcheck && "$GO" build -o "../../../$TLOGCHECK" .) >"$PEERS/go-build.log" 2>&1 \
    || { cat "$PEERS/go-build.log" >&2; exit 1; }
  echo "$want" >"$TLOGCHECK.sha256"
fi
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
echo "setup: peers ready (age $(age --version), $(softhsm2-util --version | head -1 | sed 's/^/softhsm2 /'), $("$VENV/bin/python" -c 'import model_signing,safetensors;print("model-signing", model_signing.__version__ if hasattr(model_signing,"__version__") else "?", "safetensors", safetensors.__version__)'), PostgreSQL $PG_VERSION, $(/usr/bin/chromium --version 2>/dev/null | head -1), $(docker-registry --version | cut -d' ' -f2-), oras $ORAS_VERSION)" >&2
