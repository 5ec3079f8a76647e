#!/usr/bin/env python3
"""Tests of bench/kernel_times.py (ctest bench.kernel_times) on ncu --csv text shaped like ncu's: kernel names
shortened past namespaces, templates and parameters; units converted to microseconds; launches kept in ID
order; other metrics and non-CSV lines ignored; the setup launches skipped on request; the summary sums by name."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kernel_times  # noqa: E402

HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size",'
          '"Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"')


def row(i, name, metric, unit, value):
    return (f'"{i}","7","moekit","127.0.0.1","{name}","1","13","(256, 1, 1)","(2048, 1, 1)","0","9.0",'
            f'"Command line profiler metrics","{metric}","{unit}","{value}"')


SAMPLE = "\n".join([
    "==PROF== Connected to process 7 (/tmp/b/tools/moekit)",
    "[bench] qwen3-30b-a3b fp8-block128: generating weights",
    HEADER,
    row(0, "moekit::cuda::(anonymous namespace)::pad_weights_kernel(const void *, int)", "gpu__time_duration.sum",
        "usecond", "2.94"),
    row(1, "void moekit::device::route_topk_lanes_kernel<4>(moekit::device::RouteParams)", "gpu__time_duration.sum",
        "usecond", "38.91"),
    row(1, "void moekit::device::route_topk_lanes_kernel<4>(moekit::device::RouteParams)",
        "dram__throughput.avg.pct_of_peak_sustained_elapsed", "%", "4.5"),
    row(3, "void cutlass::device_kernel<cutlass::GemmUniversal<A<B>, C>>(T1::Params)", "gpu__time_duration.sum",
        "msecond", "1.25"),
    row(2, "moekit::cuda::(anonymous namespace)::token_quantize_kernel(RowSource, long)", "gpu__time_duration.sum",
        "nsecond", "70,780"),
    row(4, "void moekit::device::route_topk_lanes_kernel<4>(moekit::device::RouteParams)", "gpu__time_duration.sum",
        "usecond", "39.09"),
    "==PROF== Disconnected from process 7",
])


class KernelTimes(unittest.TestCase):
    def test_names(self):
        self.assertEqual(kernel_times.short_name("void a::b<3, c<d>>::kern<1>(x::P, int (*)(int))"), "kern")
        self.assertEqual(kernel_times.short_name("ns::(anonymous namespace)::k2(int)"), "k2")

    def test_parse_orders_and_converts(self):
        launches = kernel_times.parse(SAMPLE)
        self.assertEqual([i for i, _, _ in launches], [0, 1, 2, 3, 4])
        by_id = {i: (n, us) for i, n, us in launches}
        self.assertEqual(by_id[2][0], "token_quantize_kernel")
        self.assertAlmostEqual(by_id[2][1], 70.78)  # 70,780 ns
        self.assertEqual(by_id[3][0], "device_kernel")
        self.assertAlmostEqual(by_id[3][1], 1250.0)  # 1.25 ms
        self.assertAlmostEqual(by_id[1][1], 38.91)  # the dram row did not replace it

    def test_skip_setup_and_summary(self):
        launches = kernel_times.skip_setup(kernel_times.parse(SAMPLE))
        self.assertEqual(launches[0][1], "route_topk_lanes_kernel")
        rows = kernel_times.summary(launches)
        self.assertEqual(rows[0][0], "device_kernel")
        route = [r for r in rows if r[0] == "route_topk_lanes_kernel"][0]
        self.assertEqual(route[1], 2)
        self.assertAlmostEqual(route[2], 78.0)
        self.assertAlmostEqual(sum(r[3] for r in rows), 1.0)

    def test_unknown_unit_is_an_error(self):
        with self.assertRaises(ValueError):
            kernel_times.parse("\n".join([HEADER, row(0, "k(int)", "gpu__time_duration.sum", "cycle", "5")]))


if __name__ == "__main__":
    unittest.main()
