#!/usr/bin/env bash
# Installs the HIP toolchain moekit's HIP module builds with, from Debian 12's own archive (no AMD repository):
#   hipcc + libamdhip64-dev 5.2.3 (clang-15 based; compiles gfx90a, gfx940 and older, not gfx942/gfx950),
#   rocm-device-libs (the ockl/oclc bitcode the device code links against).
# Optional: MOEKIT_HIP_CLANG22=1 also installs clang-22 (bookworm-security) for the experimental gfx942/gfx950
# compile route (kernels/hip/CMakeLists.txt, docs/hip.md). No-op for packages already present.
# Usage: scripts/install_hip_deps.sh     (run as root, or with sudo available)
set -euo pipefail

packages=(hipcc libamdhip64-dev rocm-device-libs)
[ "${MOEKIT_HIP_CLANG22:-0}" = 1 ] && packages+=(clang-22 lld-22)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_hip_deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
echo "install_hip_deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
