// The CPU backend: the reference and the embedded default. Each operation lives in its own file
// (cpu_route.cpp, cpu_quantize.cpp, cpu_experts.cpp, ...); this class only routes the table to them.
#pragma once

#include <string>

#include "moekit_core/backend.h"

namespace moekit {

class CpuBackend final : public Backend {
 public:
  static std::string describe_host();

  BackendKind kind() const override { return BackendKind::CPU; }
  DeviceType device_type() const override { return DeviceType::CPU; }
  int32_t device_id() const override { return 0; }
  std::string describe() const override { return describe_host(); }
  PlatformContract contract() const override { return cpu_platform_contract(); }

  void route(const ExecContext& ex, const RouterConfig& cfg, const TensorView& logits, RoutingPlan& plan) override;
  void build_plan(const ExecContext& ex, const RouterConfig& cfg, RoutingPlan& plan) override;
  void router_gemm(const ExecContext& ex, const TensorView& hidden, const TensorView& w_gate, const TensorView* bias,
                   const TensorView& logits) override;
  void quantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& input, const TensorView& values,
                const TensorView& scales) override;
  void dequantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& values,
                  const TensorView& scales, const TensorView& output) override;
  std::unique_ptr<PreparedExperts> prepare_experts(const ExecContext& ex, const ExpertsConfig& cfg,
                                                   const ExpertWeights& weights) override;
  size_t experts_workspace_size(const ExpertsConfig& cfg, int64_t num_tokens, int32_t top_k) const override;
  void run_experts(const ExecContext& ex, const ExpertsConfig& cfg, const PreparedExperts& weights,
                   const TensorView& hidden, const RoutingPlan& plan, const TensorView& out, void* workspace,
                   size_t workspace_bytes, RunReport& report) override;
};

}  // namespace moekit
