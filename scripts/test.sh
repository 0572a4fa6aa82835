#!/usr/bin/env bash
# Installs what is needed, builds presenced with AddressSanitizer and
# UndefinedBehaviorSanitizer, runs every test (unit, black-box against the
# real binary, interop with Node's ws, the C client against the real server
# and nginx, the browser client in Chromium, the benchmark smoke run, the man
# pages, the Debian packages built and run from a copy of the tree), then
# runs the threaded suites against a ThreadSanitizer build, then runs each
# fuzz driver for a short, fixed time. Exits non-zero on any
# failure.
#   PD_FUZZ_SECONDS  seconds per fuzz driver (default 15; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds=${PD_FUZZ_SECONDS:-15}

scripts/deps.sh test

# npm packages for the interop and browser suites, from their lock files.
for dir in tests/interop tests/browser; do
    lock=$dir/package-lock.json
    if [ ! -d "$dir/node_modules" ] || [ "$lock" -nt "$dir/node_modules" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        touch "$dir/node_modules"
    fi
done

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DPD_SANITIZE=ON >/dev/null
if ! cmake --build build/test -j"$(nproc)" >build/test/build.log 2>&1; then
    cat build/test/build.log; exit 1
fi
ctest --test-dir build/test --output-on-failure -j2 2>&1 | tee build/test/ctest.log || true
ctest_passed=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' build/test/ctest.log)
read -r total failed <<<"${ctest_passed:-0 1}"
passed=$((total - failed))

# ThreadSanitizer is a build of its own (it cannot share one with ASan): the
# threaded suites (label threads: the black-box suite with --threads 4 and
# bb_threads) against it. A report makes the server exit 66, failing its test.
cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=Debug -DPD_TSAN=ON >/dev/null
if ! cmake --build build/tsan -j"$(nproc)" >build/tsan/build.log 2>&1; then
    cat build/tsan/build.log; exit 1
fi
ctest --test-dir build/tsan --output-on-failure -j2 -L threads 2>&1 | tee build/tsan/ctest.log || true
tsan_counts=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' build/tsan/ctest.log)
read -r tsan_total tsan_failed <<<"${tsan_counts:-0 1}"
total=$((total + tsan_total))
failed=$((failed + tsan_failed))
passed=$((total - failed))

fuzz_passed=0
fuzz_failed=0
if [ "$fuzz_seconds" != 0 ]; then
    cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DPD_FUZZ=ON -DPD_TESTS=OFF >/dev/null
    if ! cmake --build build/fuzz -j"$(nproc)" >build/fuzz/build.log 2>&1; then
        cat build/fuzz/build.log; exit 1
    fi
    for f in build/fuzz/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        name=$(basename "$f")
        corpus=$(mktemp -d)
        [ -d "fuzz/corpus/$name" ] && cp "fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
        # A fixed seed makes every run explore the same inputs: CI repeats what
        # was checked here, and a longer PD_FUZZ_SECONDS explores further.
        if "$f" -seed=1 -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 "$corpus" \
                >"build/fuzz/$name.log" 2>&1; then
            echo "fuzz: $name ran ${fuzz_seconds}s: $(grep -o 'Done [0-9]* runs' "build/fuzz/$name.log" | tail -1)"
            fuzz_passed=$((fuzz_passed + 1))
        else
            echo "fuzz: $name FAILED (see below)"; tail -40 "build/fuzz/$name.log"
            fuzz_failed=$((fuzz_failed + 1))
        fi
        rm -rf "$corpus"
    done
fi

echo
echo "tests: $((passed + fuzz_passed)) passed, $((failed + fuzz_failed)) failed"
[ "$failed" -eq 0 ] && [ "$fuzz_failed" -eq 0 ]
