#!/usr/bin/env bash
# Quick start, command 1: install dependencies, build, and run one MoE layer on the best available backend.
# Extra arguments go to `moekit run` (default: the Qwen3-30B-A3B shape, 64 tokens).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
build/release/tools/moekit info
if [ $# -eq 0 ]; then set -- --model qwen3-30b-a3b --tokens 64; fi
build/release/tools/moekit run "$@"
