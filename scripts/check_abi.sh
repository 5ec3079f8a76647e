#!/usr/bin/env bash
# ABI check: compares libmoekit.so.<major> against the committed baseline packaging/abi/libmoekit.so.<major>.abi
# (libabigail's abidw over the public header only) and fails on any change that could break a program built
# against an earlier 1.x: removed or changed functions, changed types, fields inserted or changed anywhere but at
# the end of a struct_size-tagged struct. New functions and fields appended to those structs pass (and are
# listed). The rules are docs/abi.md; the allowed exceptions are packaging/abi/moekit.abignore.
#
# Usage: scripts/check_abi.sh [LIB [HEADERS_DIR]]
#        scripts/check_abi.sh --self-test     (the check against edited copies of the baseline; no build)
#   LIB          a libmoekit.so.1.x.y built with -g (default: builds one in build/abi: Release flags plus -g)
#   HEADERS_DIR  the public header directory LIB was built from (default: capi/include/moekit)
# To accept a deliberate change (a new major version, i.e. a new SONAME): scripts/update_abi_baseline.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
suppressions=$root/packaging/abi/moekit.abignore

# compare BASELINE.abi CANDIDATE.abi: 0 if every difference is allowed, 1 (with the report) otherwise.
compare() {
  local report rc failed=0
  # 1. Functions, enums and non-growable types: abidiff. Additions are not reported (--no-added-syms) and
  #    --redundant keeps every change visible (2.2 otherwise filters some type changes), so any report is a break.
  set +e
  report=$(abidiff --no-added-syms --redundant --suppressions "$suppressions" "$1" "$2" 2>&1)
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    echo "$report"
    if (( rc & 3 )); then echo "abi: abidiff could not compare (status $rc)"
    else echo "abi: abidiff: incompatible change (status $rc)"; fi
    failed=1
  fi
  # 2. Struct layouts, field by field: struct_size structs may only grow at their end, the others never change.
  python3 "$root/packaging/abi/check_abi_rules.py" "$1" "$2" || failed=1
  return $failed
}

# --self-test: the check must pass or fail each edited copy of the baseline as its name says (about a second).
if [ "${1:-}" = --self-test ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  baseline=$root/packaging/abi/libmoekit.so.1.abi
  python3 "$root/packaging/abi/make_mutants.py" "$baseline" "$scratch"
  wrong=0
  for mutant in "$scratch"/*.abi; do
    name=$(basename "$mutant" .abi)
    if compare "$baseline" "$mutant" >"$scratch/$name.log" 2>&1; then verdict=pass; else verdict=fail; fi
    if [ "$verdict" = "${name##*.}" ]; then echo "abi self-test: ok    ${name%.*}: $verdict"
    else echo "abi self-test: WRONG ${name%.*}: $verdict"; cat "$scratch/$name.log"; wrong=1; fi
  done
  exit $wrong
fi

lib=${1:-}
headers=${2:-$root/capi/include/moekit}
if [ -z "$lib" ]; then
  build=${MOEKIT_ABI_BUILD:-$root/build/abi}
  # Release code with DWARF: abidiff reads the types from the debug information.
  mkdir -p "$build"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g -DCMAKE_CXX_FLAGS=-g \
        -DMOEKIT_BUILD_TESTS=OFF -DMOEKIT_BUILD_TOOLS=OFF >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log"; exit 1; }
  cmake --build "$build" -j "$(nproc)" --target moekit >/dev/null
  lib=$(readlink -f "$build/capi/libmoekit.so")
fi
command -v abidiff >/dev/null || { echo "abi: abidiff not found (package abigail-tools)" >&2; exit 1; }

soname=$(objdump -p "$lib" | awk '$1 == "SONAME" {print $2}')
baseline=$root/packaging/abi/$soname.abi
if [ ! -f "$baseline" ]; then
  echo "abi: FAILED: no baseline for $soname ($baseline). A new SONAME is a new major version: record its" >&2
  echo "     baseline deliberately with scripts/update_abi_baseline.sh (see docs/abi.md)." >&2
  exit 1
fi

candidate=$(mktemp)
trap 'rm -f "$candidate"' EXIT
echo "abi: $lib ($soname) against ${baseline#"$root"/}"
# The candidate's ABI as the baseline was recorded (scripts/update_abi_baseline.sh uses the same options).
abidw --headers-dir "$headers" --drop-private-types --exported-interfaces-only --no-show-locs --no-corpus-path \
      --no-comp-dir-path --no-elf-needed --type-id-style hash --out-file "$candidate" "$lib"
if ! compare "$baseline" "$candidate"; then
  echo "abi: FAILED: incompatible change to the $soname ABI (see docs/abi.md)" >&2
  exit 1
fi
# What was added since the baseline (allowed in a minor release), for the log.
added=$(abidiff --suppressions "$suppressions" "$baseline" "$candidate" 2>&1 || true)
if grep -q "[1-9][0-9]* Added" <<<"$added"; then echo "abi: compatible additions since the baseline:"; echo "$added"; fi
echo "abi: OK, no incompatible change"
