#!/usr/bin/env python3
"""Writes edited copies of the ABI baseline, each one ABI change, for `scripts/check_abi.sh --self-test`.

Every file is named <change>.<pass|fail>.abi: the verdict the check must reach comparing the baseline with it.
A quick guard (about a second) that the check's two halves (abidiff, check_abi_rules.py) still catch what
they should; packaging/abi/verify_abi_check.sh does the same through real rebuilt libraries.
Usage: make_mutants.py BASELINE.abi OUT_DIR
"""
import re
import sys


def edit(text, pattern, replacement, change):
    new, n = re.subn(pattern, replacement, text, count=1, flags=re.S)
    if n != 1:
        sys.exit(f"make_mutants: {change}: pattern not found in the baseline: {pattern}")
    return new


def struct_block(text, name):
    m = re.search(r"(<class-decl name='%s' size-in-bits='(\d+)'.*?</class-decl>)" % name, text, flags=re.S)
    if not m:
        sys.exit(f"make_mutants: struct {name} not in the baseline")
    return m.group(1), int(m.group(2))


def append_member(text, name, member, type_id, bits):
    block, size = struct_block(text, name)
    grown = block.replace(f"size-in-bits='{size}'", f"size-in-bits='{size + bits}'", 1)
    grown = grown.replace("</class-decl>",
                          f"  <data-member access='public' layout-offset-in-bits='{size}'>\n"
                          f"        <var-decl name='{member}' type-id='{type_id}' visibility='default'/>\n"
                          f"      </data-member>\n    </class-decl>", 1)
    return text.replace(block, grown, 1)


def member_type(text, struct, member):
    block, _ = struct_block(text, struct)
    return re.search(r"<var-decl name='%s' type-id='([^']+)'" % member, block).group(1)


def add_function(text, node):
    """A copy of moekit_clear_error named moekit_clear_error2, exported in version node `node`."""
    def copy(m):
        return m.group(1) + m.group(1).replace("moekit_clear_error", "moekit_clear_error2").replace("MOEKIT_1.0", node)
    text = edit(text, r"(    <elf-symbol name='moekit_clear_error'[^\n]*\n)", copy, "add function")
    return edit(text, r"(    <function-decl name='moekit_clear_error'.*?</function-decl>\n)", copy, "add function")


def main(baseline_path, out_dir):
    base = open(baseline_path).read()
    i32 = member_type(base, "moekit_router_desc", "num_experts")
    i64 = member_type(base, "moekit_run_report", "assignments")
    mutants = {
        "unchanged.pass": base,
        "append_field_to_router_desc.pass": append_member(base, "moekit_router_desc", "new_option", i32, 64),
        "append_field_to_run_report.pass": append_member(base, "moekit_run_report", "new_counter", i64, 64),
        "add_function_in_new_node.pass": add_function(base, "MOEKIT_1.1"),
        "add_function_to_released_node.fail": add_function(base, "MOEKIT_1.0"),
        "remove_function.fail": edit(
            edit(base, r"    <elf-symbol name='moekit_clear_error'[^\n]*\n", "", "remove"),
            r"    <function-decl name='moekit_clear_error'.*?</function-decl>\n", "", "remove"),
        "change_enum_value.fail": edit(base, r"<enumerator name='MOEKIT_DTYPE_U32' value='10'/>",
                                       "<enumerator name='MOEKIT_DTYPE_U32' value='12'/>", "enum"),
        "change_field_type.fail": edit(
            base, r"(<class-decl name='moekit_router_desc'.*?<var-decl name='top_k' type-id=')[^']+'",
            lambda m: m.group(1) + i64 + "'", "field type"),
        "move_field.fail": edit(
            base, r"(<class-decl name='moekit_router_desc'.*?<data-member access='public' layout-offset-in-bits=')128'",
            lambda m: m.group(1) + "192'", "field offset"),
        "grow_tensor.fail": append_member(base, "moekit_tensor", "byte_offset", i64, 64),
    }
    for name, text in mutants.items():
        with open(f"{out_dir}/{name}.abi", "w") as f:
            f.write(text)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
