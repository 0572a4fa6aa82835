#!/usr/bin/env bash
# Benchmarks presenced against the Node.js peer (bench/peers/node-ws) on this
# machine. Builds both, runs every case against each server in turn
# (alternating which goes first), and writes bench/results/:
#   <case>-<server>.json   the result of each run, one JSON object per line
#   summary.md             tables, ratios and the targets, met or missed
#   latency.png            p50/p99 latency against deliveries/s, both servers
#
#   bench/run.sh                every case (about 18 minutes a round)
#   bench/run.sh quick          small versions of the cases (a few minutes)
#   bench/run.sh full CASE...   only the named cases of a set
#
# Needs what scripts/deps.sh installs, Node.js with npm, and gnuplot for the
# plot (Debian: gnuplot-nox; without it the plot is skipped). The machine
# should be otherwise idle: every result records how many cores other
# programs used meanwhile ("other_programs_cores").
#   BENCH_OUT    results directory (default bench/results; quick:
#                build/bench/results-quick, so it never replaces the numbers
#                BENCHMARKS.md quotes)
#   BENCH_BUILD  build directory (default build/bench)
#   BENCH_ROUNDS rounds of every case (default 1). The summary quotes, for
#                each case and server, the round in which other programs
#                used the least CPU; every round stays in the JSON files.
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=${1:-full}
shift || true
rounds=${BENCH_ROUNDS:-1}
build=${BENCH_BUILD:-build/bench}
out=${BENCH_OUT:-bench/results}
[ "$set_name" = quick ] && out=${BENCH_OUT:-$build/results-quick}
peer=bench/peers/node-ws

scripts/deps.sh build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target presenced presence-bench >/dev/null
if [ ! -d "$peer/node_modules" ] || [ "$peer/package-lock.json" -nt "$peer/node_modules" ]; then
    (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$peer/node_modules"
fi

declare -A servers=(
    [presenced]="$build/presenced --rate 1000 --burst 1000 --user-rate 1000 --user-burst 1000 --max-conns-per-room 20000"
    [node-ws]="node $peer/server.js"
)

# name|presence-bench arguments
full_cases=(
    "idle|--scenario idle --rooms 995 --members 20 --hold 10"
    "fanout-100k|--scenario fanout --rooms 1 --members 1000 --rate 0.1 --duration 10"
    "fanout-100k-rooms|--scenario fanout --rooms 10 --members 100 --rate 1.0101 --duration 10"
    "fanout-1m|--scenario fanout --rooms 1 --members 1000 --rate 1.01 --duration 10 --procs 2"
    "flat-100|--scenario fanout --rooms 20 --members 100 --rate 1.0101 --duration 10 --procs 2"
    "flat-1000|--scenario fanout --rooms 1 --members 1000 --rate 0.2 --duration 10 --procs 2"
    "flat-10000|--scenario fanout --rooms 1 --members 10000 --rate 0.002 --duration 10 --procs 2"
    "churn|--scenario churn --rooms 10 --members 100 --rate 1 --churn-rate 100 --duration 10 --procs 2"
    "max|--scenario max --rooms 1 --members 1000 --rate 0.1 --max-growth 1.5 --max-steps 10 --duration 5 --procs 2"
)
quick_cases=(
    "idle|--scenario idle --rooms 100 --members 20 --hold 3"
    "fanout-100k|--scenario fanout --rooms 1 --members 1000 --rate 0.1 --duration 3 --warmup 1"
    "fanout-100k-rooms|--scenario fanout --rooms 10 --members 100 --rate 1.0101 --duration 3 --warmup 1"
    "fanout-1m|--scenario fanout --rooms 1 --members 1000 --rate 1.01 --duration 3 --warmup 1 --procs 2"
    "flat-100|--scenario fanout --rooms 20 --members 100 --rate 1.0101 --duration 3 --warmup 1 --procs 2"
    "flat-1000|--scenario fanout --rooms 1 --members 1000 --rate 0.2 --duration 3 --warmup 1 --procs 2"
    "churn|--scenario churn --rooms 5 --members 50 --rate 1 --churn-rate 50 --duration 3 --warmup 1 --procs 2"
    "max|--scenario max --rooms 1 --members 1000 --rate 0.2 --max-growth 2 --max-steps 4 --duration 2 --warmup 1 --procs 2"
)
case $set_name in
    full) cases=("${full_cases[@]}") ;;
    quick) cases=("${quick_cases[@]}") ;;
    *) echo "usage: bench/run.sh [full|quick] [CASE...]" >&2; exit 2 ;;
esac

wanted() {
    [ $# -le 1 ] && return 0
    local name=$1; shift
    for w in "$@"; do [ "$w" = "$name" ] && return 0; done
    return 1
}

# One run of a case on a server; its result is appended to <case>-<server>.json.
run_one() {
    local name=$1 server=$2 args=$3 round=$4
    echo "== $name on $server (round $round of $rounds)" >&2
    # shellcheck disable=SC2086  # args is a word list on purpose
    if ! "$build/bench/presence-bench" --case "$name" --label "$server" \
            --server-cmd "${servers[$server]}" $args --out "$out/$name-$server.json"; then
        echo "== $name on $server FAILED" >&2
    fi
    sleep 3 # TIME_WAIT sockets and the last server's memory settle
}

mkdir -p "$out"
for entry in "${cases[@]}"; do
    wanted "${entry%%|*}" "$@" && rm -f "$out/${entry%%|*}-presenced.json" "$out/${entry%%|*}-node-ws.json"
done
turn=0
for round in $(seq "$rounds"); do
    for entry in "${cases[@]}"; do
        name=${entry%%|*}
        wanted "$name" "$@" || continue
        order="presenced node-ws"
        [ $((turn % 2)) -eq 1 ] && order="node-ws presenced"
        turn=$((turn + 1))
        for server in $order; do
            run_one "$name" "$server" "${entry#*|}" "$round"
        done
    done
done

node bench/summarize.js "$out" >"$out/summary.md"
if ! command -v gnuplot >/dev/null 2>&1; then
    echo "gnuplot not found (Debian: apt-get install gnuplot-nox): no plot" >&2
elif [ -s "$out/latency.dat" ]; then
    gnuplot -e "datafile='$out/latency.dat'; outfile='$out/latency.png'" bench/latency.gp
fi
cat "$out/summary.md"
