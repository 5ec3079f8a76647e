#!/usr/bin/env bash
# GPU benchmark entry point (issue 3's table) — run on a machine with an NVIDIA GPU and driver, nvcc (CUDA >= 12.1),
# CMake >= 3.25, ninja, python3 and the CPU build's dependencies (OpenBLAS, OpenMP):
#   1. builds libmoekit.so, libmoekit_cuda.so (sm_90a by default: CMAKE_CUDA_ARCHITECTURES=... overrides) and the
#      moekit CLI,
#   2. runs `moekit bench --backend cuda` over the full table (4 presets x bf16/fp8 x T = 1 .. 16384): one layer
#      (routing from logits + experts + combine) per point, CUDA-graph replays timed with CUDA events, every
#      point's sampled tokens checked against the float64 reference,
#   3. writes $results/$name.json and the markdown table $results/$name.md (bench/bench_table.py).
# Extra arguments go to `moekit bench` (e.g. --presets qwen3-30b-a3b --tokens 1,64). Exits non-zero if the build
# fails or a point reports an error (a point the backend answers UNSUPPORTED is recorded, not an error).
#   MOEKIT_BENCH_BUILD_DIR  build directory (default build/gpu-bench; tests are not built there)
#   MOEKIT_BENCH_RESULTS    output directory (default bench/results)
#   MOEKIT_BENCH_NAME       output file stem (default h200_moe_layer)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${MOEKIT_BENCH_BUILD_DIR:-build/gpu-bench}
archs=${CMAKE_CUDA_ARCHITECTURES:-90a-real}
results=${MOEKIT_BENCH_RESULTS:-bench/results}
name=${MOEKIT_BENCH_NAME:-h200_moe_layer}
mkdir -p "$build" "$results"

# The CUTLASS sm_90a prefill tier needs CUTLASS's headers in third_party/cutlass (scripts/fetch_cutlass.sh; a GPU
# host without network gets them carried over). Without them the module builds without the tier, and on sm_90
# the tier's tests fail: say so up front.
[ -f third_party/cutlass/include/cutlass/cutlass.h ] || scripts/fetch_cutlass.sh || exit 1
echo "=== configure ($archs) ==="
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOEKIT_BUILD_CUDA=ON -DMOEKIT_BUILD_TOOLS=ON \
      -DMOEKIT_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES="$archs" >"$build/bench_configure.log" \
  || { tail -30 "$build/bench_configure.log"; exit 1; }
echo "=== build ==="
start=$(date +%s)
cmake --build "$build" -j "$(nproc)" --target moekit_cuda moekit_cli >"$build/bench_build.log" 2>&1 \
  || { tail -50 "$build/bench_build.log"; exit 1; }
echo "build: $(( $(date +%s) - start )) s"

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader || true
# The module is built next to libmoekit.so, where the loader looks by default: no MOEKIT_MODULE_DIR needed.
unset MOEKIT_MODULE_DIR
"$build/tools/moekit" info
echo "=== bench ==="
start=$(date +%s)
rc=0
"$build/tools/moekit" bench --backend cuda --out "$results/$name.json" "$@" || rc=$?
echo "bench: $(( $(date +%s) - start )) s (exit $rc)"
if [ -s "$results/$name.json" ]; then
  python3 bench/bench_table.py "$results/$name.json" "$results/$name.md"
  cat "$results/$name.md"
fi
exit $rc
