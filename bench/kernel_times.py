#!/usr/bin/env python3
"""Per-kernel times of one `moekit bench` point from Nsight Compute's CSV (scripts/profile_gpu.sh --times runs
ncu with the single metric gpu__time_duration.sum, one pass per kernel). Prints every launch in order, then the
kernels summed by name with their share of the total. ncu serialises launches at base clocks with caches
flushed: read proportions here, times from the benchmark.

  usage: bench/kernel_times.py NCU_CSV [--skip-setup]
  --skip-setup leaves out the launches before the first routing kernel (the weights' one-time preparation)."""
import csv
import io
import re
import sys

TIME_METRIC = "gpu__time_duration.sum"
UNIT_TO_US = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "second": 1e6, "s": 1e6}


def short_name(name):
    """The kernel's own name: no return type, namespaces, template arguments or parameters."""
    depth, out = 0, []
    for ch in name:  # drop everything inside <...> and (...), nested
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth = max(depth - 1, 0)
        elif depth == 0:
            out.append(ch)
    text = "".join(out).strip()
    text = text.split(" ")[-1] if " " in text else text  # "void name" -> "name"
    return text.split("::")[-1] or name


def parse(text):
    """[(launch id, kernel name, microseconds)] in launch order, from ncu --csv output (other lines ignored)."""
    lines = [l for l in text.splitlines() if l.startswith('"')]
    launches = {}
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        if row.get("Metric Name") != TIME_METRIC:
            continue
        unit = row.get("Metric Unit", "").strip()
        if unit not in UNIT_TO_US:
            raise ValueError(f"unknown time unit {unit!r}")
        value = float(row["Metric Value"].replace(",", "")) * UNIT_TO_US[unit]
        launches[int(row["ID"])] = (short_name(row["Kernel Name"]), value)
    return [(i, *launches[i]) for i in sorted(launches)]


def skip_setup(launches):
    for n, (_, name, _) in enumerate(launches):
        if re.search(r"route|router|plan_", name):
            return launches[n:]
    return launches


def summary(launches):
    """[(name, launches, total us, share)] by total time, largest first."""
    totals = {}
    for _, name, us in launches:
        count, total = totals.get(name, (0, 0.0))
        totals[name] = (count + 1, total + us)
    grand = sum(t for _, t in totals.values()) or 1.0
    return sorted(((n, c, t, t / grand) for n, (c, t) in totals.items()), key=lambda r: -r[2])


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8", errors="replace") as f:
        launches = parse(f.read())
    if "--skip-setup" in argv[2:]:
        launches = skip_setup(launches)
    if not launches:
        print(f"kernel_times: no {TIME_METRIC} rows in {argv[1]}", file=sys.stderr)
        return 1
    print("| launch | kernel | us |\n|---:|---|---:|")
    for i, name, us in launches:
        print(f"| {i} | {name} | {us:.2f} |")
    print("\n| kernel | launches | total us | share |\n|---|---:|---:|---:|")
    for name, count, total, share in summary(launches):
        print(f"| {name} | {count} | {total:.2f} | {100 * share:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
