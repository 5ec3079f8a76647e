#!/usr/bin/env bash
# Records the ABI baseline that scripts/check_abi.sh defends: packaging/abi/<SONAME>.abi, libabigail's abidw
# over libmoekit restricted to the public header (capi/include/moekit). Run it deliberately, and commit the
# result in the same change as the reason:
#   - a new major version (MOEKIT_ABI_VERSION and the SONAME bumped): writes a new libmoekit.so.<N>.abi;
#   - a minor release that added functions or appended struct fields: optional, it only moves the baseline
#     forward so that later changes are compared with the newest release (docs/abi.md).
# Never run it to silence a failing check within one major version: that failure is a break for users.
#
# Usage: scripts/update_abi_baseline.sh [LIB]   (default: builds build/abi from this tree, Release flags plus -g)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
lib=${1:-}
if [ -z "$lib" ]; then
  build=${MOEKIT_ABI_BUILD:-$root/build/abi}
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g -DCMAKE_CXX_FLAGS=-g \
        -DMOEKIT_BUILD_TESTS=OFF -DMOEKIT_BUILD_TOOLS=OFF >/dev/null
  cmake --build "$build" -j "$(nproc)" --target moekit >/dev/null
  lib=$(readlink -f "$build/capi/libmoekit.so")
fi
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" {print $2}')
out=$root/packaging/abi/$soname.abi
# Only what the public header declares (--headers-dir, --drop-private-types, --exported-interfaces-only); no
# source locations or build paths, so the file changes only when the ABI does.
abidw --headers-dir "$root/capi/include/moekit" --drop-private-types --exported-interfaces-only --no-show-locs \
      --no-corpus-path --no-comp-dir-path --no-elf-needed --type-id-style hash --out-file "$out.tmp" "$lib"
sed "s|path='$root/|path='|" "$out.tmp" >"$out"
rm -f "$out.tmp"
echo "wrote ${out#"$root"/} from $lib ($(grep -c '<elf-symbol ' "$out") symbols)"
