#!/usr/bin/env python3
"""Markdown table of a `moekit bench` JSON file, with issue 3's targets next to each point.

usage: bench/bench_table.py RESULTS.json [OUT.md]      (standard library only; writes stdout without OUT.md)

Targets (issue 3, roofline = max(distinct experts' weight bytes / 4.8 TB/s, FLOPs / 797 TFLOP/s)):
  every point: not slower than vLLM's Triton fused_moe where the issue gives its time;
  T = 1: >= 80 % of the roofline (gpt-oss-120b, Mixtral, DeepSeek-V3), <= 30 us (Qwen3-30B-A3B);
  16 <= T <= 256: >= 90 % (the three large presets), >= 80 % (Qwen3); FP8: >= 90 % for every preset;
  T >= 1024: >= 75 %; FP8 at T >= 4096 also >= 900 effective TFLOP/s.
"""
import json
import sys

LARGE = {"gpt-oss-120b", "mixtral-8x7b", "deepseek-v3"}


def targets(p):
    """The issue's targets for a point, as (label, met) pairs."""
    out = []
    T, fp8, pct = p["T"], p["format"].startswith("fp8"), p["pct_of_roofline"]
    if T == 1:
        if p["preset"] in LARGE:
            out.append((">=80% roofline", pct >= 80))
        else:
            out.append(("<=30 us", p["median_us"] <= 30))
    elif 16 <= T <= 256:
        need = 90 if (fp8 or p["preset"] in LARGE) else 80
        out.append((">=%d%% roofline" % need, pct >= need))
    elif T >= 1024:
        out.append((">=75% roofline", pct >= 75))
    if fp8 and T >= 4096:
        out.append((">=900 TFLOP/s", p["achieved_tflops"] >= 900))
    if p.get("vllm_us"):
        out.append(("<= vLLM", p["median_us"] <= p["vllm_us"]))
    return out


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(doc):
    lines = [
        "| preset | format | T | median µs | min µs | experts | TB/s | TFLOP/s | roofline µs | % roofline "
        "| vLLM µs | ×vLLM | targets | kernel |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    met = missed = 0
    for p in doc["points"]:
        if p["status"] != "ok":
            lines.append("| %s | %s | %d | %s | | | | | %s | | %s | | | %s |" % (
                p["preset"], p["format"], p["T"], p["status"].upper(), fmt(p["roofline_us"], ".1f"),
                fmt(p.get("vllm_us"), ".0f"), p["message"].replace("|", "/")[:120]))
            continue
        marks = []
        for label, ok in targets(p):
            marks.append(("✓ " if ok else "✗ ") + label)
            met += ok
            missed += not ok
        ratio = p["median_us"] / p["vllm_us"] if p.get("vllm_us") else None
        lines.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            p["preset"], p["format"], p["T"], fmt(p["median_us"], ".1f"), fmt(p["min_us"], ".1f"),
            fmt(p["experts_touched"], ".1f"), fmt(p["achieved_tbps"], ".2f"), fmt(p["achieved_tflops"], ".1f"),
            fmt(p["roofline_us"], ".1f"), fmt(p["pct_of_roofline"], ".1f"), fmt(p.get("vllm_us"), ".0f"),
            fmt(ratio, ".2f"), "<br>".join(marks), p["kernel"]))
    status = {}
    for p in doc["points"]:
        status[p["status"]] = status.get(p["status"], 0) + 1
    head = [
        "# moekit one-layer benchmark",
        "",
        "Device: %s. Command: `%s`." % (doc.get("device", "?"), doc.get("command", "?")),
        "Roofline: %s with %.3g B/s and %.3g FLOP/s." % (
            doc["roofline"], doc["peaks"]["bytes_per_s"], doc["peaks"]["flops_per_s"]),
        "Points: %s. Targets met: %d, missed: %d (✗)." % (
            ", ".join("%d %s" % (n, s) for s, n in sorted(status.items())), met, missed),
        "",
    ]
    return "\n".join(head + lines) + "\n"


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        text = table(json.load(f))
    if len(sys.argv) == 3:
        with open(sys.argv[2], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
