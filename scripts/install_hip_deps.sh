#!/usr/bin/env bash
# Installs the HIP toolchain moekit's HIP module builds with, from Debian 12's own archive (no AMD repository):
#   hipcc + libamdhip64-dev 5.2.3 (clang-15 based; compiles gfx90a, gfx940 and older, not gfx942/gfx950),
#   rocm-device-libs (the ockl/oclc bitcode the device code links against).
# Optional: MOEKIT_HIP_CLANG22=1 also installs clang-22 (bookworm-security) for the experimental gfx942/gfx950
# compile route (kernels/hip/CMakeLists.txt, docs/hip.md). No-op for packages already present (scripts/apt_install.sh).
# Usage: scripts/install_hip_deps.sh     (run as root, or with sudo available)
set -euo pipefail

packages=(hipcc libamdhip64-dev rocm-device-libs)
[ "${MOEKIT_HIP_CLANG22:-0}" = 1 ] && packages+=(clang-22 lld-22)
"$(dirname "$0")/apt_install.sh" "${packages[@]}"
