#!/usr/bin/env bash
# Puts CUTLASS's headers (include/cutlass, include/cute, and tools/util's cutlass/util) in third_party/cutlass/include, where the CUDA module's
# CMake looks for them (MOEKIT_CUTLASS_INCLUDE_DIR overrides). They come from the PyPI wheel `nvidia-cutlass`
# (NVIDIA's own package, which ships the C++ headers under cutlass_library/source/include), pinned below so that
# every build compiles the same CUTLASS. Header-only: nothing is compiled here. Idempotent; needs python3
# with pip (python3-pip is installed when missing) and the package registry.
#   MOEKIT_CUTLASS_VERSION  wheel version (default below)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${MOEKIT_CUTLASS_VERSION:-4.2.0.0}
dest=third_party/cutlass
stamp=$dest/VERSION
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -f "$dest/include/cutlass/cutlass.h" ]; then
  echo "CUTLASS $version headers already in $dest/include"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# pip only downloads the wheel (nothing is installed); Debian's python3 has no pip until python3-pip is in.
python3 -m pip --version >/dev/null 2>&1 || scripts/apt_install.sh python3-pip
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "nvidia-cutlass==$version" || {
  echo "fetch_cutlass: could not download nvidia-cutlass $version; on a machine without network, copy" \
       "third_party/cutlass from one where the package registry is reachable" >&2
  exit 1; }
wheel=$(ls "$tmp"/nvidia_cutlass-*.whl)
rm -rf "$dest"
mkdir -p "$dest"
python3 - "$wheel" "$dest" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
# The library's headers, and the utility headers (cutlass/util: packed strides) from tools/util, in one tree.
prefixes = ("cutlass_library/source/include/", "cutlass_library/source/tools/util/include/")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        prefix = next((p for p in prefixes if name.startswith(p)), None)
        if prefix is None or name.endswith("/"):
            continue
        rel = name[len(prefix):]
        if rel.split("/")[0] not in ("cutlass", "cute"):
            continue
        out = os.path.join(dest, "include", rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(name) as src, open(out, "wb") as dst:
            dst.write(src.read())
    lic = [n for n in z.namelist() if n.lower().endswith("license.txt")]
    if lic:
        with z.open(lic[0]) as src, open(os.path.join(dest, "LICENSE.txt"), "wb") as dst:
            dst.write(src.read())
PY
echo "$version" >"$stamp"
echo "CUTLASS $version headers in $dest/include ($(du -sh "$dest" | cut -f1))"
