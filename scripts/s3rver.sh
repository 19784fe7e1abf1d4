#!/usr/bin/env bash
# s3rver (npm), the second S3 implementation the tests in tests/s3/ run against (moto's
# moto_server is the first).
#
#   scripts/s3rver.sh install   installs it into .s3rver/ at the project root (from npm,
#                               when missing) and prints the path of its command
#
# The tests start and stop their own s3rver on a free loopback port; they find it at
# .s3rver/node_modules/.bin/s3rver (or $MODELYARD_S3RVER). Without it the s3rver half of
# those tests skips saying why (on CI, where CI is set, it fails instead).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${MODELYARD_S3RVER_PREFIX:-$ROOT/.s3rver}
# The s3rver the tests were written against; it needs Node.js 12 or newer.
SPEC=${MODELYARD_S3RVER_SPEC:-s3rver@3.7.1}
BIN="$PREFIX/node_modules/.bin/s3rver"

install() {
    if [ ! -x "$BIN" ]; then
        command -v npm >/dev/null || { echo "npm is not installed (it comes with Node.js)" >&2; return 1; }
        echo "installing $SPEC into $PREFIX from npm..." >&2
        mkdir -p "$PREFIX"
        npm install --prefix "$PREFIX" --no-audit --no-fund --no-save --silent "$SPEC" >&2
    fi
    echo "$BIN"
}

case "${1:-}" in
    install) install ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
