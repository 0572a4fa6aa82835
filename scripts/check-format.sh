#!/usr/bin/env bash
# Checks that every C file follows .clang-format; prints the first differences.
# Fix with: scripts/check-format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files '*.c' '*.h')
else
    mapfile -t files < <(find src include tools tests fuzz bench examples -name '*.[ch]' 2>/dev/null)
fi
if [ "${1:-}" = --fix ]; then
    clang-format -i "${files[@]}"
    exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/check-format.$$; then
    head -40 /tmp/check-format.$$
    echo "format: $(grep -c 'error:' /tmp/check-format.$$) lines differ from .clang-format; run scripts/check-format.sh --fix"
    rm -f /tmp/check-format.$$
    exit 1
fi
rm -f /tmp/check-format.$$
echo "format: ${#files[@]} files follow .clang-format"
