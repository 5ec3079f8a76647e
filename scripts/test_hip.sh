#!/usr/bin/env bash
# The HIP stage of CI (scripts/test.sh hip), on a machine without an AMD GPU:
#  1. installs Debian 12's HIP toolchain (hipcc, libamdhip64-dev, rocm-device-libs) and clang-22;
#  2. builds libmoekit_hip.so for gfx90a + gfx940 (Debian hipcc's CDNA targets) and compiles the same kernels
#     for gfx942 + gfx950 with clang-22 (code objects only: docs/hip.md);
#  3. runs the hip_module.* ctest tests: the module loads through core, exports only its entry point, carries
#     its code objects, reports "no HIP device" (with the ROCm-driver reason) at every layer, answers
#     UNSUPPORTED where it has no kernel, and a missing runtime library is named;
#  4. `moekit info` next to the module lists hip as unavailable with its reason, and exits 0.
# The platform-contract and shared-index tests live in the normal test tree (tests/core) and run in the core
# stage. Env: MOEKIT_HIP_ARCHS="gfx90a;gfx940" (targets of the module), MOEKIT_HIP_CLANG22_CHECK=ON|OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
archs=${MOEKIT_HIP_ARCHS:-gfx90a;gfx940}
clang22=${MOEKIT_HIP_CLANG22_CHECK:-ON}

scripts/install_deps.sh
if [ "$clang22" = ON ]; then MOEKIT_HIP_CLANG22=1 scripts/install_hip_deps.sh; else scripts/install_hip_deps.sh; fi

build=build/hip-nogpu
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOEKIT_BUILD_HIP=ON -DMOEKIT_BUILD_TOOLS=ON \
      "-DMOEKIT_HIP_ARCHITECTURES=$archs" "-DMOEKIT_HIP_CLANG22_CHECK=$clang22" >/dev/null
targets=(moekit_hip moekit_hip_module_test moekit_cli)
[ "$clang22" = ON ] && targets+=(moekit_hip_clang22_check)
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
ctest --test-dir "$build" -j "$jobs" --output-on-failure -R "^hip_module\." --no-tests=error
info=$(MOEKIT_MODULE_DIR="$build/capi" "$build/tools/moekit" info)
echo "$info"
grep -q "^  hip   unavailable: no HIP device" <<<"$info" || {
  echo "test_hip: moekit info does not report the HIP module as 'no HIP device'" >&2
  exit 1
}
