#!/bin/bash
# Compares server builds or settings on one case, alternating them within one
# session (the machine is shared and noisy: compare runs made side by side).
#
#   bench/ab.sh OUTDIR ROUNDS 'NAME|SERVER COMMAND' ... -- PRESENCE-BENCH ARGS
#
#   cp build/bench/presenced /tmp/presenced-before     # then rebuild
#   bench/ab.sh /tmp/ab 2 \
#       "before|/tmp/presenced-before --rate 1000 --burst 1000" \
#       "after|build/bench/presenced --rate 1000 --burst 1000" \
#       -- --scenario fanout --rooms 1 --members 1000 --rate 0.2 --duration 8 --procs 2
#
# Odd rounds run the variants in the order given, even rounds in reverse.
# Each variant's results are appended to OUTDIR/NAME.json; a line per run is
# printed at the end (with the cores the server and the generator used, which
# matters where they share a small machine). Settings for one side only go in
# that side's server command, e.g. "t1|$S --threads 1" "t2|$S --threads 2".
# Uses build/bench/bench/presence-bench (bench/run.sh or
# `cmake --build build/bench --target presence-bench` builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 4 ]; then
    sed -n '2,19p' "$0" >&2
    exit 2
fi
out=$1 rounds=$2
shift 2
variants=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do variants+=("$1"); shift; done
[ $# -gt 0 ] && shift
bench=${BENCH_BIN:-build/bench/bench/presence-bench}
mkdir -p "$out"
for round in $(seq "$rounds"); do
    order=("${variants[@]}")
    if [ $((round % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#variants[@]} - 1; i >= 0; i--)); do order+=("${variants[$i]}"); done
    fi
    for v in "${order[@]}"; do
        name=${v%%|*}
        echo "== $name (round $round of $rounds)" >&2
        "$bench" --case ab --label "$name" --server-cmd "${v#*|}" "$@" --out "$out/$name.json" \
            >/dev/null 2>&1 || echo "== $name FAILED" >&2
        sleep 2 # TIME_WAIT sockets and the last server's memory settle
    done
done
for v in "${variants[@]}"; do
    node -e '
const fs = require("fs");
for (const line of fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean)) {
  const r = JSON.parse(line);
  if (r.scenario === "idle") {
    console.log([r.server, "connections", r.connections.admitted, "join p99", r.connections.join_ms.p99,
      "connects/s", Math.round(r.connections.connects_per_s),
      "rss bytes/connection", Math.round(r.server_rss_bytes_per_connection),
      "idle server cores", r.idle_server_cpu_util, "others", r.other_programs_cores].join(" "));
    continue;
  }
  const rows = r.steps || [r];
  for (const s of rows)
    console.log([r.server, "deliveries/s", Math.round(s.deliveries_per_s), "p50", s.latency_ms.p50,
      "p99", s.latency_ms.p99, "server ns/delivery", Math.round(s.server_cpu_ns_per_delivery),
      "user", Math.round(s.server_user_ns_per_delivery || 0),
      "server cores", s.server_cpu_util.toFixed(2),
      "generator cores", (s.generator_cpu_s / s.window_s).toFixed(2),
      "others", s.other_programs_cores,
      "lost", r.lost_final_states, s.generator_limited ? "generator-limited" : ""].join(" "));
}' "$out/${v%%|*}.json"
done
