#!/bin/sh
# Installs libpresence (the "libpresence" component) into a temporary
# prefix and builds examples/follow.c against it the way an application
# would: with pkg-config, once with the shared and once with the static
# library. Usage: install_test.sh BUILD_DIR SOURCE_DIR CC [CFLAGS]
set -eu
build=$1
src=$2
cc=$3
cflags=${4:-}
prefix=$(mktemp -d /tmp/presence-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT INT TERM

cmake --install "$build" --component libpresence --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name presence.pc)
test -n "$pc" || { echo "presence.pc was not installed"; exit 1; }
test -f "$prefix/include/presence/client.h" || { echo "client.h was not installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")"
libdir=$(pkg-config --variable=libdir presence)
echo "pkg-config: $(pkg-config --modversion presence): $(pkg-config --cflags --libs presence)"

# Only the public API is exported, under a versioned SONAME.
soname=$(readelf -d "$libdir/libpresence.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
test "$soname" = "libpresence.so.0" || { echo "SONAME is '$soname'"; exit 1; }
others=$(nm -D --defined-only "$libdir/libpresence.so" | awk '{print $3}' | grep -v '^presence_' || true)
test -z "$others" || { echo "exported beyond presence_*: $others"; exit 1; }

# shellcheck disable=SC2086 # the flags are lists
$cc $cflags -o "$prefix/follow-shared" "$src/examples/follow.c" \
    $(pkg-config --cflags --libs presence)
# shellcheck disable=SC2086
$cc $cflags -o "$prefix/follow-static" "$src/examples/follow.c" $(pkg-config --cflags presence) \
    "$libdir/libpresence.a" $(pkg-config --static --libs presence | sed 's/-lpresence//')

# An application may use the names of libpresence's internals: the archive
# keeps them local, so they do not collide.
cat >"$prefix/own_names.c" <<'EOF'
#include <stdlib.h>
#include <presence/client.h>
void *pd_malloc(size_t n) { return malloc(n); }
int pd_map_put(int x) { return x; }
int main(void)
{
    presence_options_t o;
    presence_options_init(&o);
    free(pd_malloc(1));
    return !(pd_map_put(0) == 0 && o.ping_interval_ms > 0 && presence_strerror(0)[0]);
}
EOF
# shellcheck disable=SC2086
$cc $cflags -o "$prefix/own-names" "$prefix/own_names.c" $(pkg-config --cflags presence) \
    "$libdir/libpresence.a" $(pkg-config --static --libs presence | sed 's/-lpresence//')
"$prefix/own-names" || { echo "own-names exited $?"; exit 1; }

for bin in follow-shared follow-static; do
    status=0
    LD_LIBRARY_PATH="$libdir" "$prefix/$bin" >/dev/null 2>"$prefix/err" || status=$?
    test "$status" = 2 || { echo "$bin exited $status, expected 2 (usage)"; exit 1; }
    grep -q "usage: follow URL WORKSPACE TOKEN USER_ID" "$prefix/err" || { cat "$prefix/err"; exit 1; }
done
echo "install test: 1 passed, 0 failed"
