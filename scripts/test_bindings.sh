#!/usr/bin/env bash
# Builds the C library once, then builds and tests the Python, Go and Java bindings, each with its own runner
# (pytest, go test, JUnit). Exits non-zero if any language fails; every language runs regardless.
# Usage: scripts/test_bindings.sh [python] [go] [java]      (default: all three)
#   MOEKIT_BINDINGS_BUILD=<dir>   where everything is built (default: build/bindings)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${MOEKIT_BINDINGS_BUILD:-$root/build/bindings}
prefix=$build/prefix
venv=$build/venv
jobs=$(nproc)
langs=("$@")
[ ${#langs[@]} -eq 0 ] && langs=(python go java)

step() { echo; echo "=== bindings: $* ==="; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

step "dependencies"
mkdir -p "$build"
[ -x "$venv/bin/python" ] || python3 -m venv --system-site-packages "$venv"
PYTHON=$venv/bin/python scripts/install_bindings_deps.sh

step "C library -> $prefix"
t0=$(date +%s)
cmake -S . -B "$build/lib" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOEKIT_BUILD_TESTS=OFF -DMOEKIT_BUILD_TOOLS=OFF \
      -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build "$build/lib" -j "$jobs"
cmake --install "$build/lib" >/dev/null
echo "C library: $(elapsed "$t0")"

test_python() {
  "$venv/bin/pip" install -q --disable-pip-version-check --no-build-isolation ./bindings/python \
    -Ccmake.define.CMAKE_PREFIX_PATH="$prefix" -Cbuild-dir="$build/python"
  # From outside the source tree, so the installed package (with its native module) is what gets imported.
  (cd "$build" && "$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/bindings/python/tests")
}

test_go() {
  bindings/go/build.sh
  # pkg-config finds the staged moekit.pc (its prefix is $prefix); the loader finds libmoekit.so.1 there.
  (cd bindings/go && PKG_CONFIG_PATH="$prefix/lib/pkgconfig" LD_LIBRARY_PATH="$prefix/lib" \
     go test -count=1 ./...)
}

test_java() {
  bindings/java/build.sh "$prefix" "$build/java"
  bindings/java/test.sh "$build/java"
}

failed=()
for lang in "${langs[@]}"; do
  step "$lang"
  t0=$(date +%s)
  if "test_$lang"; then
    echo "$lang: passed in $(elapsed "$t0")"
  else
    echo "$lang: FAILED after $(elapsed "$t0")"
    failed+=("$lang")
  fi
done

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "bindings: FAILED: ${failed[*]}"
  exit 1
fi
echo "bindings: all passed (${langs[*]})"
