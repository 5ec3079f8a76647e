#!/usr/bin/env bash
# Per-kernel times of one benchmark point on a GPU host (ncu must be on PATH): builds the module and the CLI, runs
# `moekit bench` for that point (no warm-up, one replay, one checked token) under Nsight Compute with the single
# metric gpu__time_duration.sum, and prints every launch in order and the kernels summed by name
# (bench/kernel_times.py; the weights' one-time preparation is left out). One metric needs one pass per kernel:
# with three metrics (replayed passes) the CUTLASS grouped GEMM1 reported ~1.4 us on the H200 where it takes
# about a millisecond; that one pass avoids this is untested (this script has not run on a GPU yet). Times are at
# ncu's locked base clocks with caches flushed and launches serialised: read proportions, and take totals from
# the benchmark.
#   usage: scripts/kernel_times.sh PRESET FORMAT T [LAUNCHES]      e.g. scripts/kernel_times.sh qwen3-30b-a3b fp8 16384
#   MOEKIT_PROFILE_BUILD_DIR (default build/profile)   MOEKIT_PROFILE_OUT (default $build/results)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:?usage: scripts/kernel_times.sh PRESET FORMAT T [LAUNCHES]}
format=${2:?format: bf16 or fp8}
tokens=${3:?T: tokens}
launches=${4:-60}
build=${MOEKIT_PROFILE_BUILD_DIR:-build/profile}
out=${MOEKIT_PROFILE_OUT:-$build/results}
archs=${CMAKE_CUDA_ARCHITECTURES:-90a-real}
command -v ncu >/dev/null || { echo "kernel_times: ncu not found on PATH" >&2; exit 2; }
mkdir -p "$out"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOEKIT_BUILD_CUDA=ON -DMOEKIT_BUILD_TOOLS=ON \
      -DCMAKE_CUDA_ARCHITECTURES="$archs" >"$out/configure.log" || { tail -30 "$out/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target moekit_cuda moekit_cli >"$out/build.log" 2>&1 \
  || { tail -50 "$out/build.log"; exit 1; }
name="${preset}_${format}_${tokens}"
ncu --csv --metrics gpu__time_duration.sum --launch-count "$launches" \
    "$build/tools/moekit" bench --backend cuda --presets "$preset" --formats "$format" --tokens "$tokens" \
    --warmup 0 --iters 1 --check 1 --out "$out/$name.bench.json" >"$out/$name.times.csv" 2>"$out/$name.log" \
  || { tail -30 "$out/$name.log"; exit 1; }
python3 bench/kernel_times.py "$out/$name.times.csv" --skip-setup | tee "$out/$name.times.md"
