// One measured point of `moekit bench`, the derived figures (roofline, vLLM reference), and the JSON file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace moekit_cli {

// Roofline of issue 3: max(distinct experts' weight bytes / 4.8 TB/s, FLOPs / 797 TFLOP/s) (H200 HBM3e
// bandwidth and the dense bf16 matrix rate measured on such a card). The same peaks are used for FP8.
constexpr double kPeakBytesPerSecond = 4.8e12;
constexpr double kPeakFlopsPerSecond = 797e12;

struct BenchPoint {
  // What was run.
  std::string preset, format, backend, device;
  int64_t tokens = 0, hidden = 0, intermediate = 0, scale = 1;
  int32_t num_experts = 0, top_k = 0;
  // "ok", "unsupported" (the backend answered MOEKIT_ERR_UNSUPPORTED: message says why) or "error".
  std::string status = "ok";
  std::string message;
  std::string kernel, detail, timing_method;
  // Measured.
  int iterations = 0, input_sets = 0;
  double median_us = 0, min_us = 0;
  double experts_touched = 0;        // distinct experts per layer call, mean over the input sets
  int32_t report_experts_touched = 0;  // what moekit_run_report said for input set 0
  double weight_bytes = 0;           // bytes of the distinct experts' parameters (mean over sets)
  double flops = 0;                  // 2 * T * k * 3 * H * I
  // Accuracy check.
  int64_t checked_tokens = 0;
  double check_rel_l2 = 0, check_tolerance = 0;
  bool check_passed = false;

  double roofline_us() const;
  double pct_of_roofline() const;   // roofline_us / median_us * 100
  double achieved_tbps() const;     // weight bytes / median time
  double achieved_tflops() const;
  // vLLM Triton fused_moe on the same H200 (issue 3), for the real shapes only; < 0 when the issue gives none.
  double vllm_reference_us() const;
};

// Writes {"benchmark": ..., "peaks": ..., "points": [one object per point]} to `path`. Throws on I/O failure.
void write_bench_json(const std::string& path, const std::vector<BenchPoint>& points, const std::string& command);

// One human-readable line per point (stdout).
std::string describe_point(const BenchPoint& p);

}  // namespace moekit_cli
