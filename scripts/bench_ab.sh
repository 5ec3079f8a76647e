#!/usr/bin/env bash
# A/B of the CUDA module on a GPU host, both sides measured in the same session (machines drift and differ by
# several percent between runs, more than many of the changes being measured):
#   1. builds libmoekit.so, the module and the CLI from the working tree: the "new" module;
#   2. swaps in the base versions of the files in BASE_DIR (scripts/ab_base.sh REV writes it), rebuilds only the
#      module (only the translation units those files touch recompile), keeps it as the "base" module, and
#      restores the working tree (touching the restored files, so that the next build recompiles them);
#   3. runs `moekit bench --backend cuda` MOEKIT_AB_ROUNDS times (default 2) per side, alternating base and new,
#      each side loading its module through MOEKIT_MODULE_DIR;
#   4. writes $out/ab.md (bench/ab_compare.py: ratio new / base per point; a change is called only when the
#      rounds do not overlap) and prints it.
# Only the module differs between the sides: libmoekit.so, core and the CLI are the working tree's.
# Extra arguments go to `moekit bench` (e.g. --presets qwen3-30b-a3b --tokens 1024,16384 --formats fp8).
#   usage: scripts/bench_ab.sh BASE_DIR [moekit bench args...]
#   MOEKIT_AB_BUILD_DIR  build directory (default build/ab)     MOEKIT_AB_OUT  results (default $build/results)
#   MOEKIT_AB_ROUNDS     runs per side (default 2)              CMAKE_CUDA_ARCHITECTURES (default 90a-real)
#   MOEKIT_AB_TEST_FILTER  a gtest filter: also builds the GPU tests and runs the matching ones on the new module
#                          before anything is timed (a failure stops the A/B: a wrong kernel's speed means
#                          nothing), so that one device call both verifies and measures a change
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/bench_ab.sh BASE_DIR [moekit bench args...]}
shift
[ -d "$base" ] || { echo "bench_ab: no directory $base (scripts/ab_base.sh REV writes one)" >&2; exit 2; }
build=${MOEKIT_AB_BUILD_DIR:-build/ab}
out=${MOEKIT_AB_OUT:-$build/results}
rounds=${MOEKIT_AB_ROUNDS:-2}
archs=${CMAKE_CUDA_ARCHITECTURES:-90a-real}
rm -rf "$out"
mkdir -p "$out/new" "$out/base" "$out/saved"
mapfile -t files < <(cd "$base" && find . -type f ! -name '.*' | sed 's|^\./||' | sort)
[ "${#files[@]}" -gt 0 ] || { echo "bench_ab: $base holds no files" >&2; exit 2; }

test_filter=${MOEKIT_AB_TEST_FILTER:-}
tests=OFF targets=(moekit_cuda moekit_cli)
if [ -n "$test_filter" ]; then tests=ON; targets+=(moekit_gpu_tests); fi

echo "=== new: build ($archs) ==="
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOEKIT_BUILD_CUDA=ON -DMOEKIT_BUILD_TOOLS=ON \
      -DMOEKIT_BUILD_TESTS="$tests" -DCMAKE_CUDA_ARCHITECTURES="$archs" >"$out/configure.log" \
  || { tail -30 "$out/configure.log"; exit 1; }
start=$(date +%s)
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >"$out/build_new.log" 2>&1 \
  || { tail -50 "$out/build_new.log"; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
cp "$build/capi/libmoekit_cuda.so" "$out/new/"

if [ -n "$test_filter" ]; then
  echo "=== new: GPU tests ($test_filter) ==="
  # Through MOEKIT_MODULE_DIR, as the timed runs load theirs: the copy of the new module.
  MOEKIT_REQUIRE_GPU=1 MOEKIT_MODULE_DIR="$out/new" "$build/tests/gpu/moekit_gpu_tests" --gtest_filter="$test_filter" >"$out/tests_new.log" 2>&1 \
    || { grep -E "^\[  FAILED  \]|Failure" "$out/tests_new.log" | head -40; echo "bench_ab: GPU tests failed on the new module (log: $out/tests_new.log)" >&2; exit 1; }
  grep -E "^\[  PASSED  \]" "$out/tests_new.log"
fi

restore() {
  for f in "${files[@]}"; do
    if [ -e "$out/saved/$f" ]; then cp "$out/saved/$f" "$f"; touch "$f"; else rm -f "$f"; fi
  done
}
echo "=== base ($(cat "$base/.rev" 2>/dev/null || echo "$base"): ${#files[@]} file(s)): module build ==="
for f in "${files[@]}"; do
  if [ -e "$f" ]; then mkdir -p "$out/saved/$(dirname "$f")" && cp -p "$f" "$out/saved/$f"; fi
done
trap restore EXIT
for f in "${files[@]}"; do
  mkdir -p "$(dirname "$f")"
  cp "$base/$f" "$f"
  touch "$f"
done
start=$(date +%s)
cmake --build "$build" -j "$(nproc)" --target moekit_cuda >"$out/build_base.log" 2>&1 \
  || { tail -50 "$out/build_base.log"; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
cp "$build/capi/libmoekit_cuda.so" "$out/base/"
restore
trap - EXIT

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader || true
unset MOEKIT_MODULE_DIR
for r in $(seq 1 "$rounds"); do
  for side in base new; do
    start=$(date +%s)
    MOEKIT_MODULE_DIR="$out/$side" "$build/tools/moekit" bench --backend cuda --out "$out/$side.$r.json" "$@" \
      >"$out/$side.$r.log" 2>&1 || { tail -20 "$out/$side.$r.log"; exit 1; }
    echo "round $r $side: $(( $(date +%s) - start )) s"
  done
done
base_runs=() new_runs=()
for r in $(seq 1 "$rounds"); do base_runs+=("$out/base.$r.json"); new_runs+=("$out/new.$r.json"); done
python3 bench/ab_compare.py "${base_runs[@]}" -- "${new_runs[@]}" | tee "$out/ab.md"
