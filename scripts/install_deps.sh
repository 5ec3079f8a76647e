#!/usr/bin/env bash
# Installs what building and testing the C/C++ library needs (no-op for what is present): CMake, Ninja, g++,
# pkg-config, OpenBLAS, GoogleTest, nlohmann-json (test vectors), binutils (nm for the export check), python3
# (the benchmark-comparison test, bench/ab_compare_test.py).
set -euo pipefail
"$(dirname "$0")/apt_install.sh" cmake ninja-build g++ pkg-config libopenblas-dev libgtest-dev nlohmann-json3-dev \
  binutils python3
