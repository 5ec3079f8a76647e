// The CUDA expert runner behind the plugin table's prepare_experts / free_experts / experts_workspace_size /
// run_experts. Semantics are the CPU backend's (core/src/cpu/cpu_experts.cpp): per assignment (t, j) with a
// valid local expert, gate_up = x @ w13^T (+ b13), act = activation(gate, up), y = act @ w2^T (+ b2), and
// out[t] = sum over j = 0..k-1 in slot order of weight * y. Everything is stream-ordered, allocation-free and
// host-sync-free during a run (CUDA-graph capturable); the workspace is the caller's.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "experts_prepared.h"
#include "moekit_plugin.h"

namespace moekit::cuda::experts {

// Builds the device copy of the weights (see experts_prepared.h). Synchronises `stream` before returning:
// the caller may free its weights afterwards. Throws PluginError.
Prepared* prepare(const moekit_plugin_experts_config& cfg, const moekit_plugin_expert_weights& w,
                  cudaStream_t stream);
void free_prepared(Prepared* p) noexcept;

// The expert runner's tiers in this build, for `moekit info` (docs/backends.md describes them).
std::string tiers_summary();

// Opts the GEMM kernels into the shared memory they need, on the current device (prepare calls it).
void configure_gemm_kernels();

// The device properties the tier, split-K and one-token ring-depth choices depend on, hence the workspace: taken
// from the context's device (not the current one), so that the workspace query and the run agree.
struct DeviceShape {
  int sm_count = 0;            // multiprocessors
  int compute_capability = 0;  // major * 10 + minor
  size_t smem_per_sm = 0;      // shared memory per multiprocessor (bytes)
  bool e4m3_mma = false;       // the device code has the FP8 mma (DeviceCodeFeatures: sm_89+ code)
  bool fp8_wgmma = false;      // the device code has wgmma (sm_90a code): the streaming tier's FP8 GEMMs use it
  bool dependent_launch = false;  // the device code has griddepcontrol (sm_90+ code): launches may overlap
};

size_t workspace_size(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int32_t top_k,
                      const DeviceShape& device);

void run(const moekit_plugin_experts_config& cfg, const Prepared& p, const moekit_plugin_tensor& hidden,
         const moekit_plugin_routing& plan, const moekit_plugin_tensor& out, void* workspace, size_t workspace_bytes,
         const DeviceShape& device, moekit_plugin_run_report& report, cudaStream_t stream);

}  // namespace moekit::cuda::experts
