#!/usr/bin/env bash
# Installs the Debian packages the packaging, abi and docs stages need on top of scripts/install_deps.sh
# (no-op for those already present): dpkg-dev + file (CPack's dpkg-shlibdeps), pkg-config (the C consumer),
# abigail-tools (abidw/abidiff), doxygen.
# Usage: scripts/install_packaging_deps.sh            (run as root, or with sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh

packages=(dpkg-dev file pkg-config gcc abigail-tools doxygen)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_packaging_deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
echo "install_packaging_deps: installing ${missing[*]}"
# Other apt runs (CI setup, another stage) may hold the dpkg lock for a while: wait for it instead of failing.
"${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
  --no-install-recommends "${missing[@]}"
