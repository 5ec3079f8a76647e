// Float64 reference of the expert runner (one MoE layer's experts), written from moekit.h's expert-runner
// section and vLLM's fused-MoE semantics. Shares no code with core: weights are decoded from the caller's raw
// buffers with ref_numerics / ref_quant decoders, everything else is plain loops in double.
//
//   out[t] = sum_j w[t,j] * (W2_e · act(W13_e · x_t + b13_e) + b2_e),  e = topk_ids[t,j] when local,
//   act(gate, up) for gate = rows [0, I) and up = rows [I, 2I) of W13_e · x + b13_e.
// With FP8 activation quantization each GEMM input is replaced by its FP8 round trip (per row, or per 1x128
// group), using the quantizer's rule (ref_fp8_scale / ref_fp8_quantize) with the input held as float32.
// apply_router_weight_on_input: x_t is scaled by w[t,0] (then quantized) and the output is combined with 1.
//
// Next to each output the reference returns an error bound for a float32 implementation (see err_bound).
#pragma once

#include <cstdint>
#include <vector>

namespace moekit_ref {

// Enumerations use moekit.h's numeric values.
struct RefExpertsSpec {
  int32_t num_experts = 0;
  int32_t num_local = 0;
  int64_t hidden = 0;        // H
  int64_t intermediate = 0;  // I
  int activation = 0;        // 0 silu*up, 1 gelu_erf*up, 2 gpt-oss clamped SwiGLU
  float swiglu_alpha = 1.702f;
  float swiglu_limit = 7.0f;
  int weight_format = 0;     // 0 bf16, 1 f16, 2 f32, 3 fp8 128x128 blocks, 4 mxfp4
  int act_quant = 0;         // 0 none, 1 fp8 per token, 2 fp8 per 1x128 group
  bool has_w13_bias = false;
  bool has_w2_bias = false;
  bool on_input = false;     // apply_router_weight_on_input
  std::vector<int32_t> expert_map;  // empty (identity) or [E], -1 = not local
};

// The caller's buffers, laid out as moekit_expert_weights documents (biases may be null when absent).
struct RefExpertBuffers {
  const void* w13 = nullptr;
  const void* w2 = nullptr;
  const void* w13_scale = nullptr;
  const void* w2_scale = nullptr;
  const float* w13_bias = nullptr;
  const float* w2_bias = nullptr;
};

// Decoded weights in double: w13 [L, 2I, H], w2 [L, H, I], b13 [L, 2I], b2 [L, H] (zeros without biases).
struct RefExpertWeights {
  std::vector<double> w13, w2, b13, b2;
};
RefExpertWeights ref_decode_expert_weights(const RefExpertsSpec& spec, const RefExpertBuffers& buffers);

struct RefExpertsResult {
  std::vector<double> out;  // [T, H]
  // [T, H]: how far a correct float32 implementation may be from `out` (before rounding to the output dtype).
  // Derived per element from float32 accumulation bounds ((2 sqrt(n) + 4) * 2^-24 * sum of |terms| for a sum of
  // n products: the statistical bound of a rounding random walk), propagated linearly through the activation
  // and GEMM2, plus, where FP8 activation quantization is on, one FP8 step for every GEMM2 input whose rounding
  // lies closer to an E4M3 rounding boundary than the implementation's worst-case (n * 2^-24 * sum|terms|)
  // float32 error could move it: the implementation may legitimately round that input the other way.
  std::vector<double> err_bound;
  int64_t assignments = 0;           // ids in [0, E)
  int64_t non_local_assignments = 0;
  int64_t invalid_assignments = 0;
  int32_t experts_touched = 0;
  int64_t ambiguous_roundings = 0;   // GEMM2 inputs counted as possible rounding flips (for test diagnostics)
};

// hidden: [T, H] exact values; topk_ids / topk_weights: [T, k].
RefExpertsResult ref_experts_forward(const RefExpertsSpec& spec, const RefExpertWeights& weights,
                                     const std::vector<double>& hidden, int64_t tokens, int64_t top_k,
                                     const int32_t* topk_ids, const float* topk_weights);

}  // namespace moekit_ref
