#!/bin/bash
# Cluster benchmarks (BENCHMARKS.md, "Cluster"): presenced nodes sharing
# presence through a redis-server of their own, on this machine's loopback.
#
#   bench/cluster.sh fanout OUTDIR ROUNDS [-- PRESENCE-BENCH ARGS]
#   bench/cluster.sh churn OUTDIR RATE... [-- PRESENCE-BENCH ARGS]
#
# fanout: paired rounds of the variants in CLUSTER_VARIANTS (default
#   "one two"), the order reversed every other round:
#     one    one node with --redis, holding the whole room
#     two    two nodes with --redis; member i of a room is on node i % 2
#     solo   one node without Redis (the single server of the rest of the file)
#   Default load: one room of 1,000 members at 0.1 updates/s each (99,900
#   deliveries/s), 10 s measured, one generator process. Results are appended
#   to OUTDIR/<variant>.json, one line per run (line i of each file is round i).
# churn: two nodes (CLUSTER_CHURN_NODES, default 2) at each join rate given
#   (connections opened per second, each staying --churn-hold s, half dropped
#   without a close frame), with 10 rooms of 100 steady members at 1 update/s;
#   afterwards an observer on every node and every node's /api/rooms must list
#   exactly the steady members. Results in OUTDIR/churn-<nodes>n.json.
#
# Every node runs with --threads 1 (CLUSTER_THREADS) and the flags of
# bench/run.sh; each run gets a fresh redis-server (no persistence, its own
# directory, 127.0.0.1 on a free port) and fresh nodes, all stopped by PID
# afterwards. Needs redis-server (scripts/deps.sh test installs it; or
# REDIS_SERVER=path) and build/bench (bench/run.sh, or cmake --build
# build/bench --target presenced presence-bench; or PRESENCED=path and
# PRESENCE_BENCH=path). Summarise with: node bench/cluster-summary.js OUTDIR
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
    sed -n '2,29p' "$0" >&2
    exit 2
fi
mode=$1 out=$2
shift 2
params=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do params+=("$1"); shift; done
[ $# -gt 0 ] && shift
extra=("$@")

build=${BENCH_BUILD:-build/bench}
server=${PRESENCED:-$build/presenced}
bench=${PRESENCE_BENCH:-$build/bench/presence-bench}
redis_bin=${REDIS_SERVER:-redis-server}
threads=${CLUSTER_THREADS:-1}
flags="--rate 1000 --burst 1000 --user-rate 1000 --user-burst 1000 --max-conns-per-room 20000"
for f in "$server" "$bench"; do
    [ -x "$f" ] || { echo "cluster.sh: $f not built" >&2; exit 2; }
done
command -v "$redis_bin" >/dev/null || { echo "cluster.sh: $redis_bin not found" >&2; exit 2; }
mkdir -p "$out"

work=$(mktemp -d /tmp/presenced-cluster.XXXXXX)
pids=()
stop_all() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/jwt.secret"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/api.secret"

# A port nothing on 127.0.0.1 listens on now (redis-server cannot be told port 0).
free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 12000)) # below the ephemeral ports
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
    return 1
}

# Whether the redis-server on port $1 answers PING.
redis_ping() {
    local line=
    { printf 'PING\r\n' >&3 && read -r -t 1 line <&3; } 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    [ "${line%$'\r'}" = +PONG ]
}

# Starts redis-server in $work/redis; sets redis_pid and redis_port.
start_redis() {
    local dir=$work/redis
    rm -rf "$dir" && mkdir -p "$dir"
    redis_port=$(free_port)
    printf 'bind 127.0.0.1\nport %s\ndir %s\nsave ""\nappendonly no\nprotected-mode no\n' \
        "$redis_port" "$dir" >"$dir/redis.conf"
    printf 'daemonize no\nlogfile %s/redis.log\nalways-show-logo no\n' "$dir" >>"$dir/redis.conf"
    "$redis_bin" "$dir/redis.conf" &
    redis_pid=$!
    pids+=("$redis_pid")
    for _ in $(seq 100); do
        redis_ping "$redis_port" 2>/dev/null && return 0
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "cluster.sh: redis-server did not start (see $dir/redis.log)" >&2
    return 1
}

# start_node N [--redis]: starts node N; appends to node_ports and node_pids.
start_node() {
    local n=$1 cluster=${2:-} pf=$work/node$1.port
    rm -f "$pf"
    local args=($flags --threads "$threads" --listen 127.0.0.1:0 --port-file "$pf"
        --jwt-secret-file "$work/jwt.secret" --api-secret-file "$work/api.secret"
        --log-level warn)
    [ -n "$cluster" ] && args+=(--redis "redis://127.0.0.1:$redis_port" --node-id "bench-$n")
    "$server" "${args[@]}" 2>>"$work/node$n.log" &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 200); do
        if [ -s "$pf" ]; then
            node_ports+=("$(cat "$pf")")
            node_pids+=("$pid")
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "cluster.sh: node $n did not start:" >&2
    cat "$work/node$n.log" >&2
    return 1
}

# start_cluster NODES [--redis]: a fresh redis-server (with --redis) and nodes.
start_cluster() {
    local nodes=$1 cluster=${2:-} i
    node_ports=() node_pids=() redis_pid=
    [ -n "$cluster" ] && start_redis
    for i in $(seq "$nodes"); do start_node "$i" "$cluster"; done
    sleep 0.5 # the nodes register and see each other
}

# The presence-bench arguments for the cluster that start_cluster made.
target_args() {
    local i
    for i in "${!node_ports[@]}"; do
        printf -- '--port\n%s\n--server-pid\n%s\n' "${node_ports[$i]}" "${node_pids[$i]}"
    done
    printf -- '--secret-file\n%s\n--api-secret-file\n%s\n' "$work/jwt.secret" "$work/api.secret"
    [ -n "$redis_pid" ] && printf -- '--redis-pid\n%s\n' "$redis_pid"
    return 0
}

run_bench() {
    local label=$1 file=$2
    shift 2
    local targets
    mapfile -t targets < <(target_args)
    echo "== $label" >&2
    "$bench" --label "$label" "${targets[@]}" "$@" --out "$file" >/dev/null ||
        echo "== $label FAILED" >&2
    stop_all
    sleep 2 # TIME_WAIT sockets and the last servers' memory settle
}

fanout() {
    local rounds=${params[0]:?rounds} variants round v order
    read -ra variants <<<"${CLUSTER_VARIANTS:-one two}"
    local load=(--scenario fanout --rooms 1 --members 1000 --rate 0.1 --duration 10 --procs 1)
    for round in $(seq "$rounds"); do
        order=("${variants[@]}")
        if [ $((round % 2)) -eq 0 ]; then
            order=()
            for ((i = ${#variants[@]} - 1; i >= 0; i--)); do order+=("${variants[$i]}"); done
        fi
        for v in "${order[@]}"; do
            case $v in
                one) start_cluster 1 --redis ;;
                two) start_cluster 2 --redis ;;
                solo) start_cluster 1 ;;
                *) echo "cluster.sh: unknown variant $v" >&2; exit 2 ;;
            esac
            run_bench "$v" "$out/$v.json" --case cluster-fanout "${load[@]}" "${extra[@]}"
        done
    done
}

churn() {
    local nodes=${CLUSTER_CHURN_NODES:-2} rate
    [ ${#params[@]} -gt 0 ] || { echo "cluster.sh churn: give at least one rate" >&2; exit 2; }
    for rate in "${params[@]}"; do
        start_cluster "$nodes" --redis
        run_bench "churn ${rate}/s on $nodes nodes" "$out/churn-${nodes}n.json" \
            --case "cluster-churn-$rate" --scenario churn --rooms 10 --members 100 --rate 1 \
            --churn-rate "$rate" --duration 10 --procs 2 "${extra[@]}"
    done
}

case $mode in
    fanout) fanout ;;
    churn) churn ;;
    *) echo "cluster.sh: mode is fanout or churn" >&2; exit 2 ;;
esac
