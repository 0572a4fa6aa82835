#!/bin/sh
# libpresence defines no global symbol outside its public API: neither the
# shared library's dynamic symbols nor the static archive's globals name
# anything but presence_*, so the layers inside (pd_malloc, pd_map_put, ...)
# cannot collide with an application's own names.
# Usage: symbols_test.sh LIBPRESENCE_A LIBPRESENCE_SO
set -eu
archive=$1
shared=$2
failed=0

# Prints "LIB: N public" and fails the test when others show up.
check() {
    lib=$1
    names=$2
    test -n "$names" || { echo "$lib: no symbols listed"; failed=1; return; }
    others=$(printf '%s\n' "$names" | grep -v '^presence_' || true)
    if [ -n "$others" ]; then
        echo "$lib defines globals beyond presence_*:"
        printf '%s\n' "$others" | head -20
        echo "($(printf '%s\n' "$others" | wc -l) in all)"
        failed=1
    fi
    echo "$lib: $(printf '%s\n' "$names" | grep -c '^presence_') presence_* symbols"
}

# nm prints "ADDRESS TYPE NAME" for each defined symbol (and a "FILE:" line
# per archive member).
check "$archive" "$(nm -g --defined-only "$archive" | awk 'NF == 3 {print $3}')"
check "$shared" "$(nm -D --defined-only "$shared" | awk 'NF == 3 {print $3}')"
test "$failed" = 0
echo "symbols test: 2 passed, 0 failed"
