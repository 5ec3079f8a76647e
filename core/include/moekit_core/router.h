// The router: logits [T,E] -> routing plan (top-k ids and weights, bitmatrix, per-expert counts, padded
// expert-sorted order). Validates configuration once at construction and every plan tensor on each call,
// then hands the work to the context's backend. Also the router GEMM (hidden @ w_gate^T -> logits).
#pragma once

#include <cstdint>
#include <memory>

#include "moekit_core/configs.h"
#include "moekit_core/context.h"
#include "moekit_core/types.h"

namespace moekit {

// Largest expert count a router accepts: keeps E * (block_size - 1) and bitmatrix rows comfortably sized.
constexpr int32_t kMaxRouterExperts = 65536;
// Largest block size of the sorted order.
constexpr int32_t kMaxRouterBlockSize = 1 << 20;

class Router {
 public:
  // Validates and normalises `cfg`: num_expert_groups 0 or 1 means no grouping (stored as 1, topk_groups 1);
  // block_size 0 takes the context's platform contract block_size_m. Throws Error(InvalidArgument) naming
  // the field ("top_k: must be in [1, 8], got 9").
  Router(std::shared_ptr<Context> ctx, RouterConfig cfg);

  const RouterConfig& config() const { return cfg_; }
  Context& context() { return *ctx_; }
  std::shared_ptr<Context> context_ptr() { return ctx_; }

  // Sizes of sorted_token_ids / block_expert_ids for num_tokens tokens. Throws InvalidArgument if
  // num_tokens < 0 or if the plan's int32 indices could not address it (T*k or max_sorted > INT32_MAX).
  PlanSizes plan_sizes(int64_t num_tokens) const;

  // Checks dtype/shape/device of every present plan tensor for num_tokens tokens:
  //   topk_weights [T,k] f32, topk_ids [T,k] i32, bitmatrix [T, ceil(E/32)] u32, expert_counts [E] i32,
  //   sorted_token_ids [>= max_sorted] i32, block_expert_ids [>= max_blocks] i32, num_tokens_post_padded [1] i32.
  // The three sorted-order tensors must be all present or all absent. need_topk: topk_weights and topk_ids
  // must be present (run, the expert runner); otherwise each is checked only if present.
  void validate_plan(const RoutingPlan& plan, int64_t num_tokens, bool need_topk) const;

  // logits [T,E] f32/bf16/f16 -> every present tensor of `plan` (topk_weights and topk_ids required).
  void run(const TensorView& logits, RoutingPlan& plan, void* stream);
  // Metadata (bitmatrix, counts, sorted order) from caller-given plan.topk_ids [T,k] (required); T comes
  // from topk_ids. topk_weights is optional and never written. Ids outside [0, E) are skipped.
  void build_plan(RoutingPlan& plan, void* stream);

 private:
  std::shared_ptr<Context> ctx_;
  RouterConfig cfg_;
};

// logits [T,E] f32 = hidden [T,H] @ w_gate [E,H]^T (+ bias [E] f32, optional: nullptr or not present).
// hidden and w_gate share a dtype (f32, bf16 or f16). Validates, then calls the backend.
void router_gemm(Context& ctx, const TensorView& hidden, const TensorView& w_gate, const TensorView* bias,
                 const TensorView& logits, void* stream);

}  // namespace moekit
