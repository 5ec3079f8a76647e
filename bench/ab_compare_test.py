#!/usr/bin/env python3
"""Tests of bench/ab_compare.py on synthetic `moekit bench` JSON (ctest bench.ab_compare): the ratio is new / base
of the medians of each side's runs, a change is called only when the runs do not overlap, failed points are listed
and left out of the summary, and the geometric mean is computed from the ratios."""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ab_compare  # noqa: E402


def point(preset, fmt, T, us, status="ok"):
    return {"preset": preset, "format": fmt, "T": T, "median_us": us, "status": status}


class Compare(unittest.TestCase):
    def test_verdicts_and_ratios(self):
        key = ("qwen3-30b-a3b", "bf16", 16)
        base = [{key: point(*key, 100.0)}, {key: point(*key, 104.0)}]
        faster = [{key: point(*key, 90.0)}, {key: point(*key, 94.0)}]
        rows = ab_compare.compare(base, faster)
        self.assertEqual(len(rows), 1)
        _, b, n, ratio, verdict, _ = rows[0]
        self.assertAlmostEqual(b, 102.0)
        self.assertAlmostEqual(n, 92.0)
        self.assertAlmostEqual(ratio, 92.0 / 102.0)
        self.assertEqual(verdict, "faster")
        # Overlapping runs: no call, whatever the medians say.
        overlap = [{key: point(*key, 99.0)}, {key: point(*key, 105.0)}]
        self.assertEqual(ab_compare.compare(base, overlap)[0][4], "~")
        slower = [{key: point(*key, 110.0)}, {key: point(*key, 111.0)}]
        self.assertEqual(ab_compare.compare(base, slower)[0][4], "slower")

    def test_failed_points_and_missing_points(self):
        a, b = ("gpt-oss-120b", "fp8-block128", 1), ("gpt-oss-120b", "fp8-block128", 64)
        base = [{a: point(*a, 50.0), b: point(*b, 700.0)}]
        new = [{a: point(*a, 0.0, "unsupported")}]  # b missing from the new run: not compared
        rows = ab_compare.compare(base, new)
        self.assertEqual([r[0] for r in rows], [a])
        self.assertEqual(rows[0][4], "error")
        self.assertIn("unsupported", rows[0][5])
        self.assertEqual(ab_compare.summary(rows), [])

    def test_summary_geometric_mean(self):
        k1, k2 = ("m", "bf16", 1), ("m", "fp8-block128", 1)
        base = [{k1: point(*k1, 100.0), k2: point(*k2, 100.0)}] * 2
        new = [{k1: point(*k1, 50.0), k2: point(*k2, 200.0)}] * 2
        overall = [s for s in ab_compare.summary(ab_compare.compare(base, new)) if s[0] == "all"][0]
        self.assertAlmostEqual(overall[1], math.sqrt(0.5 * 2.0))
        self.assertEqual(overall[2:], (1, 1, 0, 2))

    def test_command_line(self):
        key = ("deepseek-v3", "bf16", 256)
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for name, us in (("base", 5100.0), ("new", 5000.0)):
                path = os.path.join(d, name + ".json")
                with open(path, "w") as f:
                    json.dump({"points": [point(*key, us)]}, f)
                paths.append(path)
            script = os.path.join(HERE, "ab_compare.py")
            out = subprocess.run([sys.executable, script, paths[0], "--", paths[1]], capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            # One run a side: the ratio, but no verdict.
            self.assertIn("| deepseek-v3 | bf16 | 256 | 5100.0 | 5000.0 | 0.980 | ? |", out.stdout)
            usage = subprocess.run([sys.executable, script, paths[0]], capture_output=True, text=True)
            self.assertEqual(usage.returncode, 2)


if __name__ == "__main__":
    unittest.main()
