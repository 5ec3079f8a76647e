#!/usr/bin/env python3
"""Compare two variants of `moekit bench` runs measured in the same session (scripts/bench_ab.sh).

usage: bench/ab_compare.py BASE.json [BASE.json ...] -- NEW.json [NEW.json ...]     (standard library only)

Each variant may have several runs (rounds, alternated with the other variant's so that drift on the machine hits
both). Per point (preset, format, T) present in every run: each variant's median of its runs' medians, the ratio
new / base, and a verdict that only calls a change when the runs do not overlap:
  "faster"  every new run's median is below every base run's,
  "slower"  every new run's median is above every base run's,
  "~"       otherwise (inside the run-to-run spread),
  "?"       a side has a single run (no spread to compare with: run scripts/bench_ab.sh with 2+ rounds).
A point that fails in any run (status not "ok") is listed with its status and left out of the summary. The summary
gives the geometric mean of the ratios and the verdict counts, per format and overall. Writes markdown to stdout;
exits 2 on bad usage, 1 when the two sides share no point.
"""
import json
import math
import statistics
import sys


def points_of(path):
    with open(path) as f:
        data = json.load(f)
    pts = data["points"] if isinstance(data, dict) else data
    return {(p["preset"], p["format"], p["T"]): p for p in pts}


def compare(base_runs, new_runs):
    """Rows (key, base_us, new_us, ratio, verdict, note) for the points present in every run."""
    keys = set(base_runs[0])
    for run in base_runs[1:] + new_runs:
        keys &= set(run)
    rows = []
    for key in sorted(keys, key=lambda k: (k[0], k[1], k[2])):
        side = {}
        bad = []
        for name, runs in (("base", base_runs), ("new", new_runs)):
            side[name] = []
            for run in runs:
                p = run[key]
                if p.get("status", "ok") != "ok" or p.get("median_us") is None:
                    bad.append("%s: %s" % (name, p.get("status", "no time")))
                else:
                    side[name].append(float(p["median_us"]))
        if bad:
            rows.append((key, None, None, None, "error", "; ".join(bad)))
            continue
        b, n = side["base"], side["new"]
        ratio = statistics.median(n) / statistics.median(b)
        if len(b) < 2 or len(n) < 2:
            verdict = "?"  # one run cannot show its own spread
        else:
            verdict = "faster" if max(n) < min(b) else "slower" if min(n) > max(b) else "~"
        spread = "base %.1f-%.1f, new %.1f-%.1f" % (min(b), max(b), min(n), max(n)) if len(b) + len(n) > 2 else ""
        rows.append((key, statistics.median(b), statistics.median(n), ratio, verdict, spread))
    return rows


def summary(rows):
    """(label, geometric mean ratio, faster, slower, within spread, points) per format and overall."""
    out = []
    formats = sorted({r[0][1] for r in rows})
    for label, sel in [(f, [r for r in rows if r[0][1] == f]) for f in formats] + [("all", rows)]:
        ok = [r for r in sel if r[3] is not None]
        if not ok:
            continue
        geo = math.exp(sum(math.log(r[3]) for r in ok) / len(ok))
        count = lambda v: sum(1 for r in ok if r[4] == v)
        out.append((label, geo, count("faster"), count("slower"), count("~"), len(ok)))
    return out


def render(rows, base_files, new_files):
    lines = ["# A/B: %d base run(s) against %d new run(s)" % (len(base_files), len(new_files)), ""]
    lines.append("Base: " + ", ".join(base_files) + ". New: " + ", ".join(new_files) + ".")
    lines.append("")
    lines.append("| preset | format | T | base µs | new µs | new / base | verdict | runs |")
    lines.append("|---|---|---:|---:|---:|---:|---|---|")
    for key, b, n, ratio, verdict, note in rows:
        if ratio is None:
            lines.append("| %s | %s | %d | - | - | - | %s | %s |" % (key[0], key[1], key[2], verdict, note))
        else:
            lines.append("| %s | %s | %d | %.1f | %.1f | %.3f | %s | %s |" % (key[0], key[1], key[2], b, n, ratio,
                                                                           verdict, note))
    lines.append("")
    lines.append("| format | geometric mean new / base | faster | slower | within spread | points |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for label, geo, fast, slow, same, total in summary(rows):
        lines.append("| %s | %.3f | %d | %d | %d | %d |" % (label, geo, fast, slow, same, total))
    return "\n".join(lines) + "\n"


def main(argv):
    if "--" not in argv:
        sys.stderr.write(__doc__)
        return 2
    cut = argv.index("--")
    base_files, new_files = argv[:cut], argv[cut + 1:]
    if not base_files or not new_files:
        sys.stderr.write(__doc__)
        return 2
    rows = compare([points_of(f) for f in base_files], [points_of(f) for f in new_files])
    if not rows:
        sys.stderr.write("ab_compare: the runs share no point\n")
        return 1
    sys.stdout.write(render(rows, base_files, new_files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
