// Float64 reference of the router, the routing plan metadata and the router GEMM, written from the
// specifications (moekit.h router section, DeepSeek-V3 noaux_tc grouped top-k, vLLM moe_align_block_size).
// Shares no code with core: scores in double, top-k by a full stable sort, metadata by a scan per expert.
#pragma once

#include <cstdint>
#include <vector>

namespace moekit_ref {

struct RefRouterSpec {
  int32_t num_experts = 0;
  int32_t top_k = 0;
  bool sigmoid = false;        // false: softmax over all experts
  bool renormalize = false;
  int32_t num_groups = 1;      // 1: no grouping
  int32_t topk_groups = 1;
  double scaling = 1.0;
  std::vector<double> bias;          // empty or [E]; added for selection only
  std::vector<int32_t> expert_map;   // empty or [E]; -1 = not local
  int32_t block_size = 1;
};

// Scores of one row in double: softmax (NaN logits excluded and scored NaN; an infinite row maximum is
// shared equally by the experts holding it) or sigmoid.
std::vector<double> ref_scores(const RefRouterSpec& spec, const double* logits_row);

struct RefTokenRoute {
  std::vector<int32_t> ids;      // [k], selection order (key descending, NaN last, ties to the lowest id)
  std::vector<double> weights;   // [k]
  // True if two distinct selection keys that decided the outcome (consecutive ranks among the first k+1,
  // or the group boundary) differ by less than `near_tie_rel` relative to max(|a|, |b|, max |bias|): float
  // rounding may order them
  // either way, so such a token's ids are not comparable exactly.
  bool near_tie = false;
};

RefTokenRoute ref_route_token(const RefRouterSpec& spec, const double* logits_row, double near_tie_rel);

struct RefPlanMetadata {
  std::vector<uint32_t> bitmatrix;      // [T * ceil(E/32)]
  std::vector<int32_t> expert_counts;   // [E]
  std::vector<int32_t> sorted_token_ids;  // [max_sorted]
  std::vector<int32_t> block_expert_ids;  // [max_blocks]
  int32_t num_tokens_post_padded = 0;
};

// Metadata from topk_ids [T,k] (ids outside [0,E) ignored).
RefPlanMetadata ref_plan_metadata(const RefRouterSpec& spec, const std::vector<int32_t>& topk_ids, int64_t tokens,
                                  int64_t max_sorted, int64_t max_blocks);

struct RefGemm {
  std::vector<double> logits;   // [T,E]
  std::vector<double> abs_sum;  // [T,E]: sum_h |hidden[t,h] * w[e,h]|, for accumulation error bounds
};
// logits = hidden [T,H] @ w [E,H]^T + bias (bias empty or [E]).
RefGemm ref_router_gemm(const std::vector<double>& hidden, const std::vector<double>& w,
                        const std::vector<double>& bias, int64_t tokens, int64_t hidden_size, int64_t experts);

}  // namespace moekit_ref
