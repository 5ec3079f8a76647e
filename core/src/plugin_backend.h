// Device backends that live in a plugin module (libmoekit_cuda.so, later libmoekit_hip.so): loading and
// checking the module's versioned function table, and a Backend that forwards every operation through it.
// Core's types are converted to the plugin ABI's own POD types here and nowhere else.
#pragma once

#include <memory>
#include <string>

#include "../../kernels/common/moekit_plugin.h"
#include "moekit_core/backend.h"

namespace moekit {

// A loaded module whose table passed the checks. Modules are never unloaded: a CUDA runtime inside one
// registers process-exit handlers, and contexts keep pointers into its code.
struct PluginModule {
  std::string path;
  const moekit_plugin_table* table = nullptr;
};

// The outcome of looking for the module of `kind` (CUDA or HIP): the module, or why there is none usable
// ("module libmoekit_cuda.so not found (searched: ...)", "... speaks plugin ABI v2, this libmoekit needs v1").
struct PluginLookup {
  std::shared_ptr<const PluginModule> module;
  std::string reason;
};
PluginLookup find_plugin_module(BackendKind kind);

// What the module's probe says about its devices.
struct PluginProbe {
  bool available = false;
  int32_t device_count = 0;
  std::string detail;  // devices, or the reason they are unusable ("no CUDA driver ...")
};
PluginProbe probe_plugin(const PluginModule& module);

class PluginBackend final : public Backend {
 public:
  // Creates the module's device context. Throws Error with the module's status and message.
  PluginBackend(std::shared_ptr<const PluginModule> module, BackendKind kind, int32_t device_id);
  ~PluginBackend() override;
  PluginBackend(const PluginBackend&) = delete;
  PluginBackend& operator=(const PluginBackend&) = delete;

  BackendKind kind() const override { return kind_; }
  DeviceType device_type() const override { return device_type_; }
  int32_t device_id() const override { return device_id_; }
  std::string describe() const override;
  PlatformContract contract() const override { return contract_; }

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

 private:
  std::shared_ptr<const PluginModule> module_;
  const moekit_plugin_table* table_;
  BackendKind kind_;
  DeviceType device_type_;
  int32_t device_id_;
  void* context_ = nullptr;
  PlatformContract contract_{};
};

}  // namespace moekit
