#!/usr/bin/env bash
# Installs what the language bindings need on top of scripts/install_deps.sh (no-op for what is present):
#   Debian: swig, golang-go, default-jdk-headless, junit5 (+ python3-dev / python3-venv when missing)
#   pip (into the interpreter named by $PYTHON, default python3): numpy, pytest, scikit-build-core
# Usage: PYTHON=build/bindings/venv/bin/python scripts/install_bindings_deps.sh   (root or sudo for apt)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh

PYTHON=${PYTHON:-python3}
packages=(swig golang-go default-jdk-headless junit5)
if ! python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))'; then
  packages+=(python3-dev)
fi
python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv)

scripts/apt_install.sh "${packages[@]}"

if [ -x "$PYTHON" ] || command -v "$PYTHON" >/dev/null; then
  if ! "$PYTHON" -c 'import numpy, pytest, scikit_build_core; from numpy.lib import NumpyVersion as V; assert V(numpy.__version__) >= "1.22.0"' 2>/dev/null; then
    echo "install_bindings_deps: pip installing numpy pytest scikit-build-core into $PYTHON"
    "$PYTHON" -m pip install -q --disable-pip-version-check "numpy>=1.22" pytest "scikit-build-core>=0.8"
  fi
fi
