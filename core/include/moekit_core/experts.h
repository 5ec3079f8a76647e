// Experts: the expert runner object. It owns a validated configuration and the weights a backend prepared
// (copied into the backend's own layout and padding), and runs one MoE layer's experts on a routing plan:
//   out[t] = sum_j topk_weights[t,j] * expert_{topk_ids[t,j]}(hidden[t])  over the local experts,
//   expert_e(x) = W2_e · act(W13_e · x + b13_e) + b2_e.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "moekit_core/configs.h"
#include "moekit_core/context.h"
#include "moekit_core/types.h"

namespace moekit {

// Limits that keep every size computation far from int64 overflow.
constexpr int32_t kMaxExperts = 1 << 20;
constexpr int64_t kMaxExpertDim = int64_t{1} << 20;  // H and I

class Experts {
 public:
  // Validates the configuration: 1 <= E <= kMaxExperts, 1 <= num_local_experts <= E, 1 <= H, I <= kMaxExpertDim,
  // enums in range, expert_map of size E with values in [-1, num_local_experts) and each local id used at most
  // once (or empty: identity, which needs num_local_experts == E), MXFP4 needs H and I multiples of 32.
  // hidden_pad / intermediate_pad are filled from the context's platform contract (values given are ignored).
  // apply_router_weight_on_input is accepted here and checked at run (it needs top_k == 1).
  Experts(std::shared_ptr<Context> ctx, ExpertsConfig cfg);

  const ExpertsConfig& config() const { return cfg_; }
  Context& context() { return *ctx_; }
  const Context& context() const { return *ctx_; }

  // Validates the weights for the configured format (dtype and shape of every tensor, biases present iff the
  // configuration asks for them, everything on the context's device) and hands them to the backend, which copies
  // them. The caller may free its buffers afterwards. Replaces weights set before only on success.
  void set_weights(const ExpertWeights& w, void* stream);
  bool has_weights() const { return prepared_ != nullptr; }

  // Workspace bytes `run` needs for T tokens with k experts each (0 when T == 0). Throws on overflow.
  size_t workspace_size(int64_t num_tokens, int32_t top_k) const;

  // hidden, out: [T,H] of one dtype (f32, bf16 or f16); plan.topk_ids [T,k] i32, plan.topk_weights [T,k] f32.
  // out is written in full (zeros for tokens none of whose experts is local). `report` is written only on success.
  void run(const TensorView& hidden, const RoutingPlan& plan, const TensorView& out, void* workspace,
           size_t workspace_bytes, RunReport& report, void* stream);

 private:
  std::shared_ptr<Context> ctx_;
  ExpertsConfig cfg_;
  std::unique_ptr<PreparedExperts> prepared_;
};

}  // namespace moekit
