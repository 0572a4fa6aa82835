#!/usr/bin/env bash
# Installs what presenced needs, from Debian's packages only.
#   scripts/deps.sh build   the compiler, the libraries, help2man (man pages) and
#                           what dpkg-buildpackage needs to build the Debian packages
#   scripts/deps.sh test    also cmocka, clang (libFuzzer), Node.js (interop tests),
#                           lintian and systemd-analyze (package tests)
# Idempotent: when everything is there it asks apt nothing and takes a moment.
set -euo pipefail

mode=${1:-build}
pkgs=(gcc make cmake pkg-config libc6-dev libuv1-dev libwslay-dev libhttp-parser-dev
      libcjson-dev libjwt-dev libssl-dev libcurl4-openssl-dev ca-certificates liburing-dev
      libhiredis-dev libsystemd-dev help2man build-essential dpkg-dev debhelper)
if [ "$mode" = test ]; then
    pkgs+=(libcmocka-dev clang clang-format libclang-rt-dev nginx-light openssl chromium fonts-dejavu-core
           lintian systemd redis-server)
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
