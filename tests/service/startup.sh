#!/usr/bin/env bash
# How presenced starts as a service: it refuses to start, with a message that
# says what to set, while it has no token key (no secret, or the empty secret
# file a package installs); an empty secret file does not stand in the way of
# a verify URL; and, when built with libsystemd, it tells systemd READY=1 once
# listening and STOPPING=1 when SIGTERM starts the drain.
#   startup.sh PRESENCED HAVE_SYSTEMD(0|1)
set -euo pipefail
bin=$1
have_systemd=${2:-0}
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Only what the test sets: no PRESENCED_* from the caller's environment.
run() { env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "$@"; }

expect_refusal() {  # expect_refusal WANTED-TEXT ARGS...
    local want=$1; shift
    local rc=0
    run "$@" >"$work/out" 2>&1 || rc=$?
    [ "$rc" -eq 2 ] || fail "exit $rc, not 2, for: $* ($(cat "$work/out"))"
    grep -qF -- "$want" "$work/out" || fail "no \"$want\" in: $(cat "$work/out")"
    echo "refused as expected: $(cat "$work/out")"
}

: >"$work/secret"
expect_refusal "no token key: give --jwt-secret-file FILE" "$bin" --listen 127.0.0.1:0
expect_refusal "no token key: the secret file $work/secret is empty" \
    "$bin" --listen 127.0.0.1:0 --jwt-secret-file "$work/secret"
expect_refusal "no token key: the secret file $work/secret is empty" \
    PRESENCED_JWT_SECRET_FILE="$work/secret" "$bin" --listen 127.0.0.1:0
# An empty file is none for the other secrets too, and not accepted there.
expect_refusal "--api-secret-file: $work/secret is empty" \
    "$bin" --dev --api-secret-file "$work/secret"

wait_for() {  # wait_for FILE PATTERN: up to 10 s
    for _ in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# A verify URL is a key: the empty secret file no longer stops the start.
env_notify=()
if [ "$have_systemd" = 1 ]; then
    sock=$work/notify
    perl -MSocket -e '
        socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
        bind($s, pack_sockaddr_un($ARGV[0])) or die "bind: $!";
        $| = 1;
        while (defined recv($s, my $msg, 4096, 0)) { print "$msg\n"; }
    ' "$sock" >"$work/notified" &
    pids+=($!)
    for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
    env_notify=(NOTIFY_SOCKET="$sock")
fi
env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
    "${env_notify[@]}" PRESENCED_JWT_SECRET_FILE="$work/secret" \
    "$bin" --listen 127.0.0.1:0 --port-file "$work/port" \
    --verify-url http://127.0.0.1:9/verify >"$work/log" 2>&1 &
server=$!
pids+=($server)
wait_for "$work/port" . || fail "no port file: $(cat "$work/log")"
echo "started with an empty secret file and a verify URL, port $(cat "$work/port")"
if [ "$have_systemd" = 1 ]; then
    wait_for "$work/notified" '^READY=1' || fail "no READY=1: $(cat "$work/notified")"
    echo "notified READY=1 once listening"
fi
kill -TERM "$server"
rc=0
wait "$server" || rc=$?
[ "$rc" -eq 0 ] || fail "exit $rc after SIGTERM: $(cat "$work/log")"
if [ "$have_systemd" = 1 ]; then
    wait_for "$work/notified" '^STOPPING=1' || fail "no STOPPING=1: $(cat "$work/notified")"
    echo "notified STOPPING=1 on SIGTERM"
    [ "$(head -1 "$work/notified")" = READY=1 ] || fail "READY=1 was not first"
fi
echo "ok"
