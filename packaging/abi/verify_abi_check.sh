#!/usr/bin/env bash
# Verifies scripts/check_abi.sh itself: builds libmoekit from a copy of the committed tree (git archive HEAD,
# in a scratch directory), once per deliberate change to the public header, and checks that the ABI check
# passes the compatible ones and fails the incompatible ones. Not part of CI (about 3 minutes on 2 cores, one
# incremental build per change); run it after changing check_abi.sh, moekit.abignore or check_abi_rules.py.
# Usage: packaging/abi/verify_abi_check.sh        exit 0 = every change judged as expected
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git -C "$root" archive HEAD | tar -x -C "$scratch" --one-top-level=src
src=$scratch/src
header=$src/capi/include/moekit/moekit.h
cp "$header" "$scratch/moekit.h.orig"
cp "$src/capi/src/version_api.cpp" "$scratch/version_api.cpp.orig"
cp "$src/capi/src/context_api.cpp" "$scratch/context_api.cpp.orig"
cp "$src/capi/moekit.map" "$scratch/moekit.map.orig"
cmake -S "$src" -B "$scratch/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g -DCMAKE_CXX_FLAGS=-g \
      -DMOEKIT_BUILD_TESTS=OFF -DMOEKIT_BUILD_TOOLS=OFF >/dev/null

# change name -> python edit of the header (and sources); expected verdict.
apply_change() {
  cp "$scratch/moekit.h.orig" "$header"
  cp "$scratch/version_api.cpp.orig" "$src/capi/src/version_api.cpp"
  cp "$scratch/context_api.cpp.orig" "$src/capi/src/context_api.cpp"
  cp "$scratch/moekit.map.orig" "$src/capi/moekit.map"
  python3 - "$1" "$src" <<'EOF'
import sys
change, src = sys.argv[1], sys.argv[2]
H = src + "/capi/include/moekit/moekit.h"
def edit(path, old, new):
    text = open(path).read()
    assert old in text, (change, old)
    open(path, "w").write(text.replace(old, new, 1))
report_end = "  char detail[192];"
if change.startswith("add_function"):
    edit(H, "MOEKIT_API int32_t moekit_abi_version(void);",
         "MOEKIT_API int32_t moekit_abi_version(void);\nMOEKIT_API int32_t moekit_abi_minor(void);")
    open(src + "/capi/src/version_api.cpp", "a").write(
        '\nextern "C" MOEKIT_API int32_t moekit_abi_minor(void) { return 0; }\n')
    if change == "add_function":  # the documented way: a new version node
        open(src + "/capi/moekit.map", "a").write("\nMOEKIT_1.1 {\n  global:\n    moekit_abi_minor;\n} MOEKIT_1.0;\n")
elif change == "append_field_to_descriptor":
    edit(H, "  int32_t block_size;", "  int32_t block_size;\n  int32_t new_option;")
elif change == "append_field_to_report":
    text = open(H).read()
    i = text.index(report_end); j = text.index("\n", i) + 1
    open(H, "w").write(text[:j] + "  int64_t new_counter;\n" + text[j:])
elif change == "add_enum_value":
    edit(H, "MOEKIT_DTYPE_U32 = 10", "MOEKIT_DTYPE_U32 = 10,\n  MOEKIT_DTYPE_I8 = 11")
elif change == "change_field_type":
    edit(H, "  int32_t top_k; ", "  int64_t top_k; ")
elif change == "insert_field_in_middle":
    edit(H, "  int32_t top_k; ", "  int32_t flags;\n  int32_t top_k; ")
elif change == "append_and_change_field":
    edit(H, "  int32_t block_size;", "  int32_t block_size;\n  int32_t new_option;")
    edit(H, "  int32_t renormalize; ", "  int64_t renormalize; ")
elif change == "grow_tensor":
    edit(H, "\n} moekit_tensor;", "\n  int64_t byte_offset;\n} moekit_tensor;")
elif change == "change_enum_value":
    edit(H, "MOEKIT_DTYPE_U32 = 10", "MOEKIT_DTYPE_U32 = 12")
elif change == "change_parameter_type":
    edit(H, "MOEKIT_API moekit_status moekit_context_set_num_threads(moekit_context ctx, int32_t n);",
         "MOEKIT_API moekit_status moekit_context_set_num_threads(moekit_context ctx, int64_t n);")
    import glob
    for path in glob.glob(src + "/capi/src/*.cpp"):
        text = open(path).read()
        if "moekit_context_set_num_threads(moekit_context ctx, int32_t n)" in text:
            open(path, "w").write(text.replace("moekit_context_set_num_threads(moekit_context ctx, int32_t n)",
                                               "moekit_context_set_num_threads(moekit_context ctx, int64_t n)"))
elif change == "remove_function":
    edit(H, "MOEKIT_API void moekit_clear_error(void);", "")
    edit(src + "/capi/src/version_api.cpp", "MOEKIT_API void moekit_clear_error", "static void moekit_clear_error_removed")
else:
    sys.exit("unknown change " + change)
EOF
}

wrong=0
while read -r change expected; do
  [ -n "$change" ] || continue
  apply_change "$change"
  if ! cmake --build "$scratch/build" -j "$(nproc)" --target moekit >"$scratch/build-$change.log" 2>&1; then
    tail -20 "$scratch/build-$change.log"; echo "$change: does not build"; wrong=1; continue
  fi
  if "$root/scripts/check_abi.sh" "$scratch/build/capi/libmoekit.so.1.0.0" "$src/capi/include/moekit" \
       >"$scratch/check-$change.log" 2>&1; then verdict=pass; else verdict=fail; fi
  if [ "$verdict" = "$expected" ]; then echo "ok    $change: $verdict"
  else echo "WRONG $change: $verdict, expected $expected"; cat "$scratch/check-$change.log"; wrong=1; fi
done <<'EOF'
add_function pass
add_function_without_new_node fail
append_field_to_descriptor pass
append_field_to_report pass
add_enum_value pass
change_field_type fail
insert_field_in_middle fail
append_and_change_field fail
grow_tensor fail
change_enum_value fail
change_parameter_type fail
remove_function fail
EOF
exit $wrong
