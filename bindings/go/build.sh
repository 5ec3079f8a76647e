#!/usr/bin/env bash
# Generates the cgo package internal/native from bindings/moekit.i with SWIG (generated files are not
# committed). Then `go build ./...` / `go test ./...` link libmoekit through pkg-config (PKG_CONFIG_PATH must
# find moekit.pc, e.g. <install prefix>/lib/pkgconfig).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
swig -go -cgo -intgosize 64 -package native -module moekit \
     -I"$repo/bindings" -I"$repo/capi/include" \
     -outdir "$here/internal/native" -o "$here/internal/native/moekit_wrap.c" "$repo/bindings/moekit.i"
