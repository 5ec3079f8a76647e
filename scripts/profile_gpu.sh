#!/usr/bin/env bash
# Nsight Compute profile of the kernels of one benchmark point on a GPU host (ncu must be on PATH): builds the
# module and the CLI, then runs `moekit bench` for that single point (no warm-up, one replay, one checked token)
# under ncu, in one of two modes:
#  - default: the sections that say what bounds a kernel: speed of light (DRAM / SM throughput), memory workload,
#    occupancy, launch statistics, scheduler and warp-state statistics (stall reasons);
#  - --times: the single metric gpu__time_duration.sum, then every launch in order and the kernels summed by name
#    (bench/kernel_times.py; the weights' one-time preparation left out). One metric needs one pass per kernel:
#    with three metrics (replayed passes) the CUTLASS grouped GEMM1 reported ~1.4 us on the H200 where it takes
#    about a millisecond; with this one metric it reported 1465 us (H200, Qwen3-30B-A3B fp8 T=16384, base clocks).
# ncu serialises kernels, flushes caches between them and locks clocks at base: read proportions and limiters
# from it, and take times from the benchmark.
#   usage: scripts/profile_gpu.sh [--times] PRESET FORMAT T [KERNEL_REGEX] [LAUNCHES]
#     e.g. scripts/profile_gpu.sh qwen3-30b-a3b fp8 16384 'grouped_gather|grouped_activation' 2
#          scripts/profile_gpu.sh --times qwen3-30b-a3b fp8 16384
#   writes $out/PRESET_FORMAT_T.ncu-rep (open in Nsight Compute) and .txt (the sections as text), or with --times
#   .times.csv and .times.md
#   MOEKIT_PROFILE_BUILD_DIR (default build/profile)   MOEKIT_PROFILE_OUT (default $build/results)
#   MOEKIT_PROFILE_CLOCKS=none: leave the clocks as they are (ncu --clock-control none; default base), for
#   --times of memory-bound or latency-bound kernels closer to what the benchmark sees
set -euo pipefail
cd "$(dirname "$0")/.."
times=0
if [ "${1:-}" = "--times" ]; then times=1; shift; fi
preset=${1:?usage: scripts/profile_gpu.sh [--times] PRESET FORMAT T [KERNEL_REGEX] [LAUNCHES]}
format=${2:?format: bf16 or fp8}
tokens=${3:?T: tokens}
regex=${4:-.}
launches=${5:-$([ "$times" = 1 ] && echo 60 || echo 20)}
build=${MOEKIT_PROFILE_BUILD_DIR:-build/profile}
out=${MOEKIT_PROFILE_OUT:-$build/results}
archs=${CMAKE_CUDA_ARCHITECTURES:-90a-real}
command -v ncu >/dev/null || { echo "profile_gpu: ncu not found on PATH" >&2; exit 2; }
mkdir -p "$out"
clocks=(--clock-control "${MOEKIT_PROFILE_CLOCKS:-base}")
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOEKIT_BUILD_CUDA=ON -DMOEKIT_BUILD_TOOLS=ON \
      -DMOEKIT_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES="$archs" >"$out/configure.log" \
  || { tail -30 "$out/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target moekit_cuda moekit_cli >"$out/build.log" 2>&1 \
  || { tail -50 "$out/build.log"; exit 1; }
name="${preset}_${format}_${tokens}"
bench=("$build/tools/moekit" bench --backend cuda --presets "$preset" --formats "$format" --tokens "$tokens"
       --warmup 0 --iters 1 --check 1 --out "$out/$name.bench.json")
if [ "$times" = 1 ]; then
  ncu "${clocks[@]}" --csv --metrics gpu__time_duration.sum --kernel-name "regex:$regex" --launch-count "$launches" "${bench[@]}" \
      >"$out/$name.times.csv" 2>"$out/$name.log" || { tail -30 "$out/$name.log"; exit 1; }
  python3 bench/kernel_times.py "$out/$name.times.csv" --skip-setup | tee "$out/$name.times.md"
  exit 0
fi
ncu "${clocks[@]}" --force-overwrite --export "$out/$name" --kernel-name "regex:$regex" --launch-count "$launches" \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
    --section SchedulerStats --section WarpStateStats "${bench[@]}" >"$out/$name.log" 2>&1 \
  || { tail -30 "$out/$name.log"; exit 1; }
ncu --import "$out/$name.ncu-rep" --print-summary none >"$out/$name.txt"
echo "profile_gpu: $out/$name.ncu-rep, $out/$name.txt"
grep -E "^  [a-zA-Z_].*\(|Duration|DRAM Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Registers Per" \
  "$out/$name.txt" | head -80
