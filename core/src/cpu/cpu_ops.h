// The CPU implementations of the backend table, one file per operation. Inputs are validated by core.
#pragma once

#include <memory>

#include "moekit_core/backend.h"

namespace moekit::cpu {

// cpu_route.cpp
void route(const ExecContext& ex, const RouterConfig& cfg, const TensorView& logits, RoutingPlan& plan);
void build_plan(const ExecContext& ex, const RouterConfig& cfg, RoutingPlan& plan);
// cpu_router_gemm.cpp
void router_gemm(const ExecContext& ex, const TensorView& hidden, const TensorView& w_gate, const TensorView* bias,
                 const TensorView& logits);
// cpu_quantize.cpp
void quantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& input, const TensorView& values,
              const TensorView& scales);
void dequantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& values,
                const TensorView& scales, const TensorView& output);
// cpu_experts.cpp
std::unique_ptr<PreparedExperts> prepare_experts(const ExecContext& ex, const ExpertsConfig& cfg,
                                                 const ExpertWeights& weights);
size_t experts_workspace_size(const ExpertsConfig& cfg, int64_t num_tokens, int32_t top_k);
void run_experts(const ExecContext& ex, const ExpertsConfig& cfg, const PreparedExperts& weights,
                 const TensorView& hidden, const RoutingPlan& plan, const TensorView& out, void* workspace,
                 size_t workspace_bytes, RunReport& report);

}  // namespace moekit::cpu
