#!/usr/bin/env python3
"""The moekit ABI rules abidiff does not check, on two abidw outputs (baseline and candidate).

1. Struct layouts.
abidiff (libabigail 2.2) neither tells "a field appended to a struct_size-tagged descriptor" (allowed in a
minor release) from "a field inserted in the middle" when asked to suppress the first, nor reliably reports a
changed struct reached only through pointers. So every public struct is checked here, field by field:
  - a struct whose first field is `struct_size` (descriptors, info and report structs) may only grow at its end:
    the baseline's fields must be an exact prefix (name, offset, type) of the candidate's;
  - every other struct (moekit_tensor: no size field, embedded in other structs) must be unchanged;
  - no public struct may disappear.

2. Version nodes. A released version node never changes: the candidate exports exactly the baseline's symbols in
each of the baseline's nodes (capi/moekit.map), so new functions must come in a new node (MOEKIT_1.1, ...). The
Debian symbols file gives every symbol the release that introduced its node; a function slipped into MOEKIT_1.0
would make packages built against 1.1 accept libmoekit1 1.0, which lacks it.
Usage: check_struct_layout.py BASELINE.abi CANDIDATE.abi        exit 0 = compatible, 1 = a break (listed).
"""
import sys
import xml.etree.ElementTree as ET


def load(path):
    """Returns {struct name: (size in bits, [(field, offset, type string)])} for the public moekit_* structs."""
    root = ET.parse(path).getroot()
    by_id = {el.get("id"): el for el in root.iter() if el.get("id")}

    def type_name(type_id, depth=0):
        el = by_id.get(type_id)
        if el is None or depth > 16:
            return "?" + str(type_id)
        tag = el.tag
        if tag in ("type-decl", "typedef-decl", "enum-decl", "class-decl", "union-decl"):
            # Named types compare by name; their own layout is checked on their own (structs) or by abidiff.
            name = el.get("name")
            if tag == "typedef-decl":
                return name + "=" + type_name(el.get("type-id"), depth + 1)
            if tag == "type-decl":
                return name + ":" + str(el.get("size-in-bits"))
            return name
        if tag == "pointer-type-def":
            return type_name(el.get("type-id"), depth + 1) + "*"
        if tag == "qualified-type-def":
            quals = [q for q in ("const", "volatile", "restrict") if el.get(q) == "yes"]
            return " ".join(quals) + " " + type_name(el.get("type-id"), depth + 1)
        if tag == "array-type-def":
            return type_name(el.get("type-id"), depth + 1) + "[" + str(el.get("size-in-bits")) + "b]"
        if tag == "function-type":
            return "function"
        return tag

    structs = {}
    for el in root.iter("class-decl"):
        name = el.get("name") or ""
        if not name.startswith("moekit_") or el.get("is-declaration-only") == "yes":
            continue
        fields = []
        for member in el.findall("data-member"):
            var = member.find("var-decl")
            fields.append((var.get("name"), int(member.get("layout-offset-in-bits")), type_name(var.get("type-id"))))
        structs[name] = (int(el.get("size-in-bits")), fields)
    return structs


def version_nodes(path):
    """Returns {version node: set of exported function/variable names} from an abidw file."""
    nodes = {}
    for el in ET.parse(path).getroot().iter("elf-symbol"):
        if el.get("is-defined") == "yes":
            nodes.setdefault(el.get("version") or "(none)", set()).add(el.get("name"))
    return nodes


def main(baseline_path, candidate_path):
    baseline, candidate = load(baseline_path), load(candidate_path)
    breaks = []
    old_nodes, new_nodes = version_nodes(baseline_path), version_nodes(candidate_path)
    for node, names in sorted(old_nodes.items()):
        added = sorted(new_nodes.get(node, set()) - names)
        removed = sorted(names - new_nodes.get(node, set()))
        if added:
            breaks.append(f"version node {node} is released and cannot grow: {added} need a new node in capi/moekit.map"
                          " (and a line in packaging/debian/libmoekit1.symbols)")
        if removed:
            breaks.append(f"version node {node} lost {removed}")
    for node in sorted(set(new_nodes) - set(old_nodes)):
        print(f"abi: new version node {node}: {sorted(new_nodes[node])}")
    for name, (size, fields) in sorted(baseline.items()):
        if name not in candidate:
            breaks.append(f"{name}: removed from the public header")
            continue
        new_size, new_fields = candidate[name]
        growable = bool(fields) and fields[0][0] == "struct_size"
        prefix = new_fields[: len(fields)]
        for old, new in zip(fields, prefix):
            if old != new:
                breaks.append(f"{name}: field {old[0]} (offset {old[1]} bits, {old[2]}) became "
                              f"{new[0]} (offset {new[1]} bits, {new[2]})")
        if len(new_fields) < len(fields):
            breaks.append(f"{name}: lost fields {[f[0] for f in fields[len(new_fields):]]}")
        if not growable and (new_size != size or len(new_fields) != len(fields)):
            breaks.append(f"{name}: has no struct_size, so it can never change (size {size} -> {new_size} bits)")
        if growable and new_size < size:
            breaks.append(f"{name}: shrank from {size} to {new_size} bits")
        if growable and not any(b.startswith(name + ":") for b in breaks) and len(new_fields) > len(fields):
            print(f"abi: {name} grew at its end (allowed): +{[f[0] for f in new_fields[len(fields):]]}")
    for b in breaks:
        print("abi: BREAK: " + b)
    print(f"abi: {len(baseline)} public structs checked field by field and {len(old_nodes)} released version "
          f"node(s) symbol by symbol, {len(breaks)} breaks")
    return 1 if breaks else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
