#!/usr/bin/env bash
# Installs what the packaging, abi and docs stages need on top of scripts/install_deps.sh (no-op for what is
# present): dpkg-dev + file (CPack's dpkg-shlibdeps, dpkg-gensymbols), pkg-config and gcc (the consumers),
# abigail-tools (abidw/abidiff), doxygen.   Usage: scripts/install_packaging_deps.sh   (root, or with sudo)
set -euo pipefail
here=$(dirname "$0")
"$here/install_deps.sh"
"$here/apt_install.sh" dpkg-dev file pkg-config gcc python3 abigail-tools doxygen
