// Plain configuration records of the three objects, as core understands them (already validated).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "moekit_core/types.h"

namespace moekit {

enum class Scoring : int32_t { Softmax = 0, Sigmoid = 1 };

struct RouterConfig {
  int32_t num_experts = 0;
  int32_t top_k = 0;
  Scoring scoring = Scoring::Softmax;
  bool renormalize = false;
  int32_t num_expert_groups = 1;  // 1 = no grouping
  int32_t topk_groups = 1;
  float routed_scaling_factor = 1.0f;
  std::vector<float> correction_bias;  // empty or [E]
  std::vector<int32_t> expert_map;     // empty or [E]: global -> local, -1 = not local
  int32_t block_size = 0;              // rows per block of the sorted order (resolved, > 0)
};

// The routing plan buffers (views of caller memory). Optional ones have data == nullptr.
struct RoutingPlan {
  TensorView topk_weights;            // [T,k] f32
  TensorView topk_ids;                // [T,k] i32
  TensorView bitmatrix;               // [T, ceil(E/32)] u32
  TensorView expert_counts;           // [E] i32
  TensorView sorted_token_ids;        // [max_sorted] i32
  TensorView block_expert_ids;        // [max_blocks] i32
  TensorView num_tokens_post_padded;  // [1] i32
};

// Sizes of the sorted-order buffers for T tokens: T*k entries plus up to block_size-1 padding per expert.
struct PlanSizes {
  int64_t max_sorted;
  int64_t max_blocks;
};
PlanSizes plan_sizes(int64_t num_tokens, int32_t top_k, int32_t num_experts, int32_t block_size);

enum class QuantScheme : int32_t { Fp8PerTensor = 0, Fp8PerToken = 1, Fp8PerGroup = 2, Fp8Block = 3, Mxfp4 = 4 };

struct QuantizerConfig {
  QuantScheme scheme = QuantScheme::Fp8PerToken;
  int32_t group_size = 128;
};

// Shapes of quantized values and scales for a [rows, cols] input.
struct QuantShapes {
  int64_t values[2];
  int64_t scales[2];
  DType values_dtype;
  DType scales_dtype;
};
QuantShapes quant_shapes(const QuantizerConfig& c, int64_t rows, int64_t cols);

enum class Activation : int32_t { SiluMul = 0, GeluMul = 1, SwigluOai = 2 };
enum class WeightFormat : int32_t { BF16 = 0, F16 = 1, F32 = 2, Fp8Block = 3, Mxfp4 = 4 };
enum class ActQuant : int32_t { None = 0, Fp8PerToken = 1, Fp8PerGroup = 2 };

struct ExpertsConfig {
  int32_t num_experts = 0;        // global
  int32_t num_local_experts = 0;
  int64_t hidden = 0;             // H
  int64_t intermediate = 0;       // I
  int64_t hidden_pad = 0;         // from the platform contract
  int64_t intermediate_pad = 0;
  Activation activation = Activation::SiluMul;
  float swiglu_alpha = 1.702f;
  float swiglu_limit = 7.0f;
  WeightFormat weight_format = WeightFormat::BF16;
  ActQuant act_quant = ActQuant::None;
  bool has_w13_bias = false;
  bool has_w2_bias = false;
  bool apply_router_weight_on_input = false;
  std::vector<int32_t> expert_map;  // [E] global -> local (identity when none was given)
};

struct ExpertWeights {
  TensorView w13, w2, w13_scale, w2_scale, w13_bias, w2_bias;
};

struct RunReport {
  int64_t assignments = 0;
  int64_t non_local_assignments = 0;
  int64_t invalid_assignments = 0;
  int32_t experts_touched = 0;
  std::string kernel;  // kernel path that ran
  std::string detail;  // its tile configuration / parameters and why they were chosen
};

}  // namespace moekit
