#!/usr/bin/env bash
# Base side of an A/B of the CUDA module (scripts/bench_ab.sh): writes into DIR (default .ab_base, git-ignored)
# the REV version of every file under kernels/ that differs between REV and the working tree (committed or not).
# Files added since REV are not listed: the base build's own files do not refer to them. On the GPU host, carry
# the directory with the run (the device tool's carry list: ".ab_base", "third_party/cutlass").
#   usage: scripts/ab_base.sh REV [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: scripts/ab_base.sh REV [DIR]}
dir=${2:-.ab_base}
git rev-parse --verify --quiet "$rev^{commit}" >/dev/null || { echo "ab_base: no commit '$rev'" >&2; exit 2; }
rm -rf "$dir"
mkdir -p "$dir"
count=0
while IFS= read -r f; do
  git cat-file -e "$rev:$f" 2>/dev/null || continue  # added since REV
  mkdir -p "$dir/$(dirname "$f")"
  git show "$rev:$f" >"$dir/$f"
  count=$((count + 1))
done < <(git diff --name-only "$rev" -- kernels)
git rev-parse --short "$rev" >"$dir/.rev"
echo "ab_base: $count file(s) of $(cat "$dir/.rev") in $dir"
