#include "cpu/cpu_backend.h"

#include <cblas.h>

#include <fstream>
#include <thread>

#include "cpu/cpu_ops.h"

namespace moekit {

std::string CpuBackend::describe_host() {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(colon + 2);
      break;
    }
  }
  const char* blas = openblas_get_config();
  return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " threads, OpenBLAS " +
         (blas ? blas : "");
}

void CpuBackend::route(const ExecContext& ex, const RouterConfig& cfg, const TensorView& logits, RoutingPlan& plan) {
  cpu::route(ex, cfg, logits, plan);
}
void CpuBackend::build_plan(const ExecContext& ex, const RouterConfig& cfg, RoutingPlan& plan) {
  cpu::build_plan(ex, cfg, plan);
}
void CpuBackend::router_gemm(const ExecContext& ex, const TensorView& hidden, const TensorView& w_gate,
                             const TensorView* bias, const TensorView& logits) {
  cpu::router_gemm(ex, hidden, w_gate, bias, logits);
}
void CpuBackend::quantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& input,
                          const TensorView& values, const TensorView& scales) {
  cpu::quantize(ex, cfg, input, values, scales);
}
void CpuBackend::dequantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& values,
                            const TensorView& scales, const TensorView& output) {
  cpu::dequantize(ex, cfg, values, scales, output);
}
std::unique_ptr<PreparedExperts> CpuBackend::prepare_experts(const ExecContext& ex, const ExpertsConfig& cfg,
                                                             const ExpertWeights& weights) {
  return cpu::prepare_experts(ex, cfg, weights);
}
size_t CpuBackend::experts_workspace_size(const ExpertsConfig& cfg, int64_t num_tokens, int32_t top_k) const {
  return cpu::experts_workspace_size(cfg, num_tokens, top_k);
}
void CpuBackend::run_experts(const ExecContext& ex, const ExpertsConfig& cfg, const PreparedExperts& weights,
                             const TensorView& hidden, const RoutingPlan& plan, const TensorView& out,
                             void* workspace, size_t workspace_bytes, RunReport& report) {
  cpu::run_experts(ex, cfg, weights, hidden, plan, out, workspace, workspace_bytes, report);
}

}  // namespace moekit
