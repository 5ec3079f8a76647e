#!/usr/bin/env bash
# Builds the Debian packages (CPack), installs them on this machine, and checks them the way users meet them,
# from a scratch directory outside the source tree:
#   1. a C program compiled through `pkg-config moekit`,
#   2. a CMake project that uses find_package(moekit) (and is refused moekit 2: SameMajorVersion),
#   3. a program that only dlopen()s libmoekit.so.1 and resolves functions by name and version node,
#   4. dpkg-shlibdeps on a consumer, which must derive "libmoekit1 (>= 1.0.0)" from the installed symbols file,
#   5. /usr/bin/moekit info, which must find installed device modules next to libmoekit.so.1.
# The packages are removed again on exit, also when a step fails.
# Needs root or sudo (like scripts/install_deps.sh). Exits non-zero on any failure.
#   MOEKIT_PACKAGING_BUILD=<dir>   build directory (default: build/packaging)
#   MOEKIT_PACKAGE_CUDA=0|1        package libmoekit_cuda.so (default: 1 when nvcc is found)
#   MOEKIT_PACKAGE_HIP=0|1         package libmoekit_hip.so (default: 1 when hipcc and kernels/hip are there)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${MOEKIT_PACKAGING_BUILD:-$root/build/packaging}
jobs=$(nproc)

step() { echo; echo "=== packaging: $* ==="; }
die() { echo "packaging: FAILED: $*" >&2; exit 1; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "need root or sudo to install the packages"
  sudo_cmd=(sudo)
fi
# Waits for the dpkg lock like scripts/apt_install.sh: another apt run may hold it for a while.
apt_get() { DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 "$@"; }

step "dependencies"
scripts/install_packaging_deps.sh

step "build"
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DMOEKIT_BUILD_TESTS=OFF -DMOEKIT_BUILD_TOOLS=ON)
with_cuda=${MOEKIT_PACKAGE_CUDA:-$(command -v nvcc >/dev/null && echo 1 || echo 0)}
cmake_args+=("-DMOEKIT_BUILD_CUDA=$([ "$with_cuda" = 1 ] && echo ON || echo OFF)")
with_hip=${MOEKIT_PACKAGE_HIP:-$(command -v hipcc >/dev/null && [ -f kernels/hip/CMakeLists.txt ] && echo 1 || echo 0)}
cmake_args+=("-DMOEKIT_BUILD_HIP=$([ "$with_hip" = 1 ] && echo ON || echo OFF)")
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja "${cmake_args[@]}" >"$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; die "configure"; }
# A module whose toolchain is incomplete is not configured (CMake warns): fail only if it was asked for explicitly.
has_target() { local all; all=$(ninja -C "$build" -t targets all 2>/dev/null); grep -q "^$1:" <<<"$all"; }
for module in cuda hip; do
  want=with_$module
  if [ "${!want}" = 1 ] && ! has_target "moekit_$module"; then
    explicit=MOEKIT_PACKAGE_${module^^}
    [ -n "${!explicit:-}" ] && { cat "$build/configure.log"; die "moekit_$module not configured"; }
    echo "packaging: NOTE: libmoekit_$module.so is not configured here (see $build/configure.log): no libmoekit1-$module package"
    printf -v "$want" 0
  fi
done
targets=(moekit moekit_cli moekit_deb_symbols)
[ "$with_cuda" = 1 ] && targets+=(moekit_cuda)
[ "$with_hip" = 1 ] && targets+=(moekit_hip)
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

step "cpack"
rm -rf "$build/packages"
(cd "$build" && cpack --config CPackConfig.cmake -B "$build/packages" >/dev/null) || die "cpack"
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
declare -A deb
for f in "$build"/packages/*.deb; do deb[$(dpkg-deb -f "$f" Package)]=$f; done
expected=(libmoekit1 libmoekit-dev moekit-tools)
[ "$with_cuda" = 1 ] && expected+=(libmoekit1-cuda)
[ "$with_hip" = 1 ] && expected+=(libmoekit1-hip)
for p in "${expected[@]}"; do
  [ -n "${deb[$p]:-}" ] || die "no $p package among: ${!deb[*]}"
done
for p in "${!deb[@]}"; do
  echo "$p $version: $(dpkg-deb -f "${deb[$p]}" Depends)"
done

# Contents: the split between runtime and development files is what lets two ABIs coexist and keeps -dev optional.
# Lists are captured before grep reads them: with pipefail, `producer | grep -q` fails whenever grep exits at its
# first match while the producer is still writing (SIGPIPE), which made these checks flaky.
contents() { dpkg-deb -c "${deb[$1]}" | awk '{print $6}' | sed 's|^\./|/|'; }
has() { local list; list=$(contents "$1"); grep -qE "$2" <<<"$list" || die "$1 lacks $2"; }
lacks() { local list; list=$(contents "$1"); ! grep -qE "$2" <<<"$list" || die "$1 must not contain $2"; }
has libmoekit1 '/libmoekit\.so\.1$'
has libmoekit1 "/libmoekit\\.so\\.$version\$"
lacks libmoekit1 '/libmoekit\.so$|\.h$|\.pc$|cmake'
has libmoekit-dev '/libmoekit\.so$'
has libmoekit-dev '/include/moekit/moekit\.h$'
has libmoekit-dev '/pkgconfig/moekit\.pc$'
has libmoekit-dev '/cmake/moekit/moekitConfigVersion\.cmake$'
lacks libmoekit-dev '/libmoekit\.so\.1'
has moekit-tools '^/usr/bin/moekit$'
[ "$with_cuda" = 1 ] && has libmoekit1-cuda '/libmoekit_cuda\.so$'
[ "$with_hip" = 1 ] && has libmoekit1-hip '/libmoekit_hip\.so$'
control_files=$(dpkg-deb --ctrl-tarfile "${deb[libmoekit1]}" | tar -t)
grep -qx './symbols' <<<"$control_files" || die "libmoekit1 has no symbols file"
grep -qx './shlibs' <<<"$control_files" || die "libmoekit1 has no shlibs file"
[ "$(dpkg-deb -f "${deb[libmoekit-dev]}" Depends)" = "libmoekit1 (= $version)" ] || die "libmoekit-dev Depends"
dpkg-deb -f "${deb[moekit-tools]}" Depends | grep -q "libmoekit1 (>= $version)" || die "moekit-tools Depends"

# Never overwrite (and then purge) a moekit the machine's owner installed.
for p in "${!deb[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    die "$p is already installed here; remove it first (this test installs and removes its own build)"
  fi
done

scratch=$(mktemp -d)
installed=()
cleanup() {
  local rc=$?
  if [ ${#installed[@]} -gt 0 ]; then
    echo "--- packaging: removing ${installed[*]} ---"
    apt_get purge -y -qq "${installed[@]}" >/dev/null || { echo "packaging: could not remove ${installed[*]}" >&2; rc=1; }
  fi
  rm -rf "$scratch"
  exit $rc
}
trap cleanup EXIT

step "install"
installed=("${!deb[@]}")
debs=()
for p in "${installed[@]}"; do debs+=("${deb[$p]}"); done
apt_get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
libdir=$(dirname "$(dpkg -L libmoekit1 | grep '/libmoekit\.so\.1$')")
echo "installed into $libdir"

# From here on nothing may come from the source or build tree.
cp "$root"/packaging/tests/consumer.c "$root"/packaging/tests/dlopen_consumer.c "$root"/packaging/tests/CMakeLists.txt \
   "$scratch"/
cd "$scratch"
unset LD_LIBRARY_PATH CMAKE_PREFIX_PATH PKG_CONFIG_PATH MOEKIT_MODULE_DIR MOEKIT_CUDA_MODULE MOEKIT_HIP_MODULE

resolves_to_system() {  # the installed library, not a copy from a build tree (compared after /lib -> /usr/lib)
  local used
  used=$(ldd "$1" | awk '$1 == "libmoekit.so.1" {print $3}')
  if [ -z "$used" ] || [ "$(readlink -f "$used")" != "$(readlink -f "$libdir/libmoekit.so.1")" ]; then
    ldd "$1"; die "$1 does not use $libdir/libmoekit.so.1"
  fi
}

step "C consumer through pkg-config"
[ "$(pkg-config --modversion moekit)" = "$version" ] || die "pkg-config --modversion moekit"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -Werror consumer.c $(pkg-config --cflags --libs moekit) -lm -o pkgconfig_consumer
resolves_to_system pkgconfig_consumer
./pkgconfig_consumer

step "CMake consumer through find_package(moekit)"
cmake -S . -B cmake-build -G Ninja -DCMAKE_BUILD_TYPE=Release >cmake-configure.log 2>&1 \
  || { cat cmake-configure.log; die "find_package(moekit)"; }
cmake --build cmake-build >/dev/null
resolves_to_system cmake-build/cmake_consumer
./cmake-build/cmake_consumer

step "dlopen consumer (no header, no -lmoekit)"
cc -std=c99 -Wall -Wextra -Werror dlopen_consumer.c -ldl -o dlopen_consumer
libs=$(ldd dlopen_consumer); ! grep -q libmoekit <<<"$libs" || die "dlopen_consumer links libmoekit"
./dlopen_consumer

step "dpkg-shlibdeps uses the installed symbols file"
mkdir -p debian && : >debian/control
shlibdeps=$(dpkg-shlibdeps -O pkgconfig_consumer 2>&1)
echo "$shlibdeps"
grep -q "libmoekit1 (>= 1.0.0)" <<<"$shlibdeps" || die "dpkg-shlibdeps did not derive libmoekit1 (>= 1.0.0)"

step "moekit info (installed CLI and modules)"
info=$(/usr/bin/moekit info)
echo "$info"
grep -q "^  cpu   available" <<<"$info" || die "moekit info: CPU not available"
if [ "$with_cuda" = 1 ]; then
  # Without a GPU the module must load and say why CUDA is unavailable (no driver / no device), not "not found".
  ! grep -q "libmoekit_cuda.so not found" <<<"$info" || die "the installed libmoekit_cuda.so was not found"
fi
if [ "$with_hip" = 1 ]; then
  ! grep -q "libmoekit_hip.so not found" <<<"$info" || die "the installed libmoekit_hip.so was not found"
fi

step "remove"
cd "$root"
apt_get purge -y -qq "${installed[@]}" >/dev/null
installed=()
[ ! -e "$libdir/libmoekit.so.1" ] || die "libmoekit.so.1 is still installed after purge"
echo "packaging: all checks passed"
