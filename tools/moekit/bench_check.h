// Float64 check of sampled tokens of a benchmarked layer, so that the benchmark never reports a fast wrong
// kernel. The reference is tests/reference's ref_experts_forward (shares no code with moekit), run per
// (token, expert) pair on that one expert's decoded weights, in parallel: full-size experts are too large to
// decode all at once (DeepSeek-V3 in double: 90 GB).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_weights.h"
#include "model_presets.h"
#include "moekit/moekit.h"

namespace moekit_cli {

// What the layer produced for the sampled tokens, copied to the host.
struct SampledTokens {
  std::vector<int64_t> token_index;  // positions in the batch (for messages)
  std::vector<uint16_t> hidden;      // [n, H] bf16 inputs
  std::vector<int32_t> topk_ids;     // [n, k] the router's choice (same logits, same router)
  std::vector<float> topk_weights;   // [n, k]
  std::vector<uint16_t> out;         // [n, H] bf16 outputs of the timed layer
};

struct CheckResult {
  int64_t tokens = 0;
  double max_rel_l2 = 0;  // max over tokens of ||out - ref|| / ||ref||
  double tolerance = 0;
  bool passed = false;
  std::string message;  // why it failed ("" when passed)
};

// Relative L2 tolerance for a weight format: bf16 weights with bf16 output (2^-9 rounding) and possibly bf16
// intermediates: a few 1e-3, tolerance 1e-2. FP8 w8a8 (reference includes the FP8 activation round trips): an
// implementation whose intermediates are rounded to bf16 before FP8 quantization flips about 1 in 32 GEMM2
// inputs by one E4M3 step (2^-3 relative), about 2e-2 in total, tolerance 6e-2. A wrong expert, scale block or
// combine weight errs by O(1).
double check_tolerance(moekit_weight_format format);

CheckResult check_sampled_tokens(const ModelPreset& preset, const HostExpertWeights& weights,
                                 moekit_act_quant act_quant, const SampledTokens& sample);

}  // namespace moekit_cli
