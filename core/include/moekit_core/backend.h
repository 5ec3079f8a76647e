// The backend interface: the small table of operations every backend (CPU, CUDA module, HIP module)
// implements, so that core treats them all alike. Arguments arrive validated by core.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "moekit_core/configs.h"
#include "moekit_core/platform_contract.h"
#include "moekit_core/types.h"

namespace moekit {

// Expert weights after a backend copied them into its own layout and padding.
class PreparedExperts {
 public:
  virtual ~PreparedExperts() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual BackendKind kind() const = 0;
  virtual DeviceType device_type() const = 0;
  virtual int32_t device_id() const = 0;
  virtual std::string describe() const = 0;
  virtual PlatformContract contract() const = 0;

  // Router: logits [T,E] -> plan (topk + metadata).
  virtual void route(const ExecContext& ex, const RouterConfig& cfg, const TensorView& logits,
                     RoutingPlan& plan) = 0;
  // Metadata (bitmatrix, counts, sorted order) from plan.topk_ids.
  virtual void build_plan(const ExecContext& ex, const RouterConfig& cfg, RoutingPlan& plan) = 0;
  // logits [T,E] f32 = hidden [T,H] @ w_gate[E,H]^T (+ bias[E]).
  virtual void router_gemm(const ExecContext& ex, const TensorView& hidden, const TensorView& w_gate,
                           const TensorView* bias, const TensorView& logits) = 0;

  virtual void quantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& input,
                        const TensorView& values, const TensorView& scales) = 0;
  virtual void dequantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& values,
                          const TensorView& scales, const TensorView& output) = 0;

  virtual std::unique_ptr<PreparedExperts> prepare_experts(const ExecContext& ex, const ExpertsConfig& cfg,
                                                           const ExpertWeights& weights) = 0;
  virtual size_t experts_workspace_size(const ExpertsConfig& cfg, int64_t num_tokens, int32_t top_k) const = 0;
  virtual void run_experts(const ExecContext& ex, const ExpertsConfig& cfg, const PreparedExperts& weights,
                           const TensorView& hidden, const RoutingPlan& plan, const TensorView& out,
                           void* workspace, size_t workspace_bytes, RunReport& report) = 0;
};

}  // namespace moekit
