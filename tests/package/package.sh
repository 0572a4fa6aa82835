#!/usr/bin/env bash
# The Debian packages, built and used as an operator would:
#  - dpkg-buildpackage -b -us -uc on a copy of the tree (the files git knows
#    about, as they are in the work tree; no build folders), release flags
#    (without the debug-symbol packages, which a test has no use for);
#  - lintian: no errors;
#  - dpkg-deb -c: each package holds the files it should;
#  - unpacked into a scratch root: the packaged presenced and presence run
#    against each other, the packaged settings file lists every option, the
#    server refuses to start on the empty secret file it installs, and a
#    program builds against libpresence-dev through pkg-config;
#  - the packaged unit passes systemd-analyze verify, and systemd-analyze
#    security scores it as docs/operations.md says.
#   package.sh SOURCE-DIR WORK-DIR
set -euo pipefail
src=$(cd "$1" && pwd)
work=$2

for tool in dpkg-buildpackage dh lintian help2man systemd-analyze pkg-config cc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: no $tool (scripts/deps.sh test installs it)"
        exit 77
    fi
done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

rm -rf "$work"
mkdir -p "$work/src" "$work/root"
work=$(cd "$work" && pwd)

step "copy of the tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
        tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$work/src"
else
    tar -C "$src" --exclude=./build -cf - . | tar -xf - -C "$work/src"
fi

step "dpkg-buildpackage -b -us -uc"
start=$(date +%s)
# The sanitizer settings of the test run are not for a release build.
if ! (cd "$work/src" && env -u ASAN_OPTIONS -u UBSAN_OPTIONS -u CFLAGS -u LDFLAGS -u MAKEFLAGS \
        DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=$(nproc)" \
        nice -n 10 dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
    tail -60 "$work/build.log"
    fail "dpkg-buildpackage failed (whole log: $work/build.log)"
fi
echo "built in $(($(date +%s) - start)) s:"
(cd "$work" && ls -1 ./*.deb)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
version=$(dpkg-parsechangelog -l "$work/src/debian/changelog" -SVersion)
deb() { echo "$work/${1}_${version}_${arch}.deb"; }

step "lintian"
debs=()
for p in presenced presence-tools libpresence0 libpresence-dev; do debs+=("$(deb "$p")"); done
if ! lintian --fail-on error --tag-display-limit 0 "${debs[@]}" >"$work/lintian.log" 2>&1; then
    cat "$work/lintian.log"
    fail "lintian reports errors"
fi
cat "$work/lintian.log"
echo "lintian: no errors ($(grep -c '^[WIPE]:' "$work/lintian.log" || true) other tags)"

step "dpkg-deb -c"
expect() {  # expect PACKAGE PATH...
    local pkg=$1; shift
    dpkg-deb -c "$(deb "$pkg")" | awk '{print $6}' >"$work/$pkg.list"
    for path in "$@"; do
        grep -qx "./$path" "$work/$pkg.list" || fail "$pkg lacks /$path (has: $(tr '\n' ' ' <"$work/$pkg.list"))"
    done
    echo "$pkg: $*"
}
expect presenced usr/sbin/presenced lib/systemd/system/presenced.service \
    etc/default/presenced usr/share/man/man8/presenced.8.gz \
    usr/share/doc/presenced/operations.md.gz usr/share/doc/presenced/copyright
expect presence-tools usr/bin/presence usr/share/man/man1/presence.1.gz
expect libpresence0 "usr/lib/$multiarch/libpresence.so.0"
expect libpresence-dev usr/include/presence/client.h "usr/lib/$multiarch/libpresence.so" \
    "usr/lib/$multiarch/libpresence.a" "usr/lib/$multiarch/pkgconfig/presence.pc"
dpkg-deb -I "$(deb libpresence0)" symbols >/dev/null || fail "libpresence0 has no symbols file"
[[ "$(dpkg-deb -I "$(deb presenced)" postinst)" == *"adduser --system"* ]] ||
    fail "presenced's postinst makes no presenced user"

step "unpacked into $work/root"
for d in "$work"/*.deb; do dpkg-deb -x "$d" "$work/root"; done
root=$work/root
server=$root/usr/sbin/presenced
cli=$root/usr/bin/presence

# Every option of --help has its variable in /etc/default/presenced.
missing=""
for var in $("$server" --help | grep -o '\[PRESENCED_[A-Z_]*\]' | tr -d '[]'); do
    grep -Eq "^#?$var=" "$root/etc/default/presenced" || missing="$missing $var"
done
[ -z "$missing" ] || fail "/etc/default/presenced lacks$missing"
echo "/etc/default/presenced lists all $("$server" --help | grep -c '\[PRESENCED_') options"

# The packaged settings with the secret file as postinst makes it: empty.
: >"$work/secret"
settings=$(grep -E '^PRESENCED_[A-Z_]+=' "$root/etc/default/presenced" |
    sed "s|=/etc/presenced/secret\$|=$work/secret|")
rc=0
env -i PATH="$PATH" $settings "$server" >"$work/refusal.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "exit $rc, not 2, with the empty secret: $(cat "$work/refusal.log")"
grep -q "no token key: the secret file $work/secret is empty" "$work/refusal.log" ||
    fail "unclear refusal: $(cat "$work/refusal.log")"
echo "refuses to start on the empty secret: $(cat "$work/refusal.log")"

# With a secret: the packaged server and the packaged CLI against each other.
openssl rand -hex 32 >"$work/secret"
env -i PATH="$PATH" $settings "$server" --listen 127.0.0.1:0 --port-file "$work/port" \
    >"$work/server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || fail "the packaged presenced did not start: $(cat "$work/server.log")"
url=ws://127.0.0.1:$(cat "$work/port")
token() { "$cli" token --secret-file "$work/secret" --user "$1" --name "$1" --workspace ws1; }
"$cli" goto /w/ws1/documents/42 --url "$url" --workspace ws1 --token "$(token ann)" \
    >"$work/goto.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q 'is at' "$work/goto.log" 2>/dev/null && break; sleep 0.1; done
grep -q 'is at' "$work/goto.log" || fail "presence goto did not join: $(cat "$work/goto.log")"
"$cli" follow --user ann --url "$url" --workspace ws1 --token "$(token bo)" \
    >"$work/follow.log" 2>"$work/follow.err" &
follow_pid=$!
pids+=("$follow_pid")
for _ in $(seq 200); do grep -q . "$work/follow.log" 2>/dev/null && break; sleep 0.1; done
grep -qx /w/ws1/documents/42 "$work/follow.log" ||
    fail "follow printed \"$(cat "$work/follow.log")\" ($(cat "$work/follow.err" "$work/goto.log"))"
echo "presence follow saw presence goto's path through the packaged server: $(cat "$work/follow.log")"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "the packaged presenced exited $rc after SIGTERM: $(cat "$work/server.log")"
grep -q 'msg="draining"' "$work/server.log" || fail "no drain: $(cat "$work/server.log")"
echo "SIGTERM: drained, exit 0"

# A program built against libpresence-dev, through pkg-config.
cat >"$work/use.c" <<'C'
#include <presence/client.h>
#include <stdio.h>
int main(void)
{
    presence_options_t opts;
    presence_options_init(&opts);
    printf("%s\n", presence_strerror(0));
    return 0;
}
C
export PKG_CONFIG_PATH=$root/usr/lib/$multiarch/pkgconfig
cc -o "$work/use" "$work/use.c" $(pkg-config --cflags --libs presence) ||
    fail "cannot build against libpresence-dev"
LD_LIBRARY_PATH=$root/usr/lib/$multiarch "$work/use" >/dev/null || fail "the program did not run"
libs=$(LD_LIBRARY_PATH=$root/usr/lib/$multiarch ldd "$work/use")
[[ "$libs" == *"$root/usr/lib/$multiarch/libpresence.so.0"* ]] ||
    fail "the program does not use the packaged libpresence.so.0: $libs"
echo "a program builds with pkg-config presence and runs on the packaged libpresence.so.0"

step "systemd-analyze"
unit=$work/presenced.service
# The unit as installed, its command pointed at the unpacked binary.
sed "s|^ExecStart=/usr/sbin/presenced|ExecStart=$server|" \
    "$root/lib/systemd/system/presenced.service" >"$unit"
MANPATH=$root/usr/share/man systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 ||
    { cat "$work/verify.log"; fail "systemd-analyze verify"; }
[ ! -s "$work/verify.log" ] || { cat "$work/verify.log"; fail "systemd-analyze verify warns"; }
echo "systemd-analyze verify: clean"
systemd-analyze security --offline=true "$unit" >"$work/security.log" 2>&1 ||
    { cat "$work/security.log"; fail "systemd-analyze security"; }
score=$(sed -n 's/.*Overall exposure level for presenced.service: \([0-9.]*\).*/\1/p' "$work/security.log")
echo "systemd-analyze security: exposure $score"
[ -n "$score" ] || { cat "$work/security.log"; fail "no score"; }
grep -q "exposure level .*$score" "$src/docs/operations.md" ||
    fail "docs/operations.md does not give the score $score"
echo "ok"
