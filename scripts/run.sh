#!/usr/bin/env bash
# Installs what is needed, builds presenced and starts it in development mode
# on http://127.0.0.1:1999 (demo at /, tokens from /dev/token). Extra
# arguments go to presenced (see build/release/presenced --help).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DPD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
echo "presenced: starting in development mode on http://127.0.0.1:1999/ (Ctrl-C stops it)"
exec build/release/presenced --dev --static-dir "$PWD/demo" --static-mount "/lib=$PWD/clients/js/src" "$@"
