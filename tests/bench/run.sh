#!/usr/bin/env bash
# run.sh — `make bench`: an optimised build (build-bench, Release) of the
# programs the benchmark runs, then the driver tests/bench/bench.py.
#
#   BENCH_SCALE=smoke|full   sizes (default full; smoke runs in ~3 minutes)
#   BENCH_STAGES=1,2,3,4,5,6,7  which stages (default all)
#   BENCH_KEEP=1             keep the temporary work folder
#   BENCH_JOBS=N             build parallelism (default 2)
#   BENCH_EXPERIMENTS=1      also the TCP_NODELAY shim experiment
#
# Every server listens on 127.0.0.1 and is stopped by bench.py at exit, on
# failure and on SIGINT/SIGTERM. Results: bench/results/<date>.json and .md.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
build="$here/build-bench"
jobs=${BENCH_JOBS:-2}

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$jobs" --target ca-server corehook ueclient loadgen

# BENCH_EXPERIMENTS=1: also run ca-server with TCP_NODELAY forced on accepted
# sockets by an LD_PRELOAD shim (never linked into ProvCA). It showed the
# ~40 ms Nagle stall before the server set tcp_nodelay itself.
extra=()
if [ "${BENCH_EXPERIMENTS:-0}" = 1 ]; then
  mkdir -p "$build/bench"
  cc -shared -fPIC -O2 -o "$build/bench/nodelay_shim.so" "$here/tests/bench/nodelay_shim.c" -ldl
  extra=(--shim "$build/bench/nodelay_shim.so")
fi

exec /usr/bin/python3 "$here/tests/bench/bench.py" --bin "$build/bin" "${extra[@]}" "$@"
