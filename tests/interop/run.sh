#!/bin/sh
# Runs the interop tests with Node's test runner. Installs the pinned `ws`
# from package-lock.json on first use.
set -eu
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node/npm not found: run scripts/deps.sh test" >&2
    exit 1
fi
if [ ! -d node_modules/ws ]; then
    npm ci --no-audit --no-fund
fi
exec node --test
