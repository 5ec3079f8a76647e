// Host-side launchers of the module's kernels, one .cu file each. Arguments arrive validated by core; each
// launcher checks what its kernels assume (size limits of this implementation) and throws PluginError
// (UNSUPPORTED with a message) for valid requests it cannot run. All launches are stream-ordered and
// capturable in a CUDA graph: no host synchronisation, no allocation, no host-to-device copies.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "moekit_plugin.h"

namespace moekit::cuda {

// Largest expert count the routing kernels handle: a token's row, and the per-expert counters of the plan,
// live in shared memory. Larger routers get MOEKIT_ERR_UNSUPPORTED.
constexpr int32_t kMaxDeviceExperts = 1024;

// Which compiled device code runs on `device` (from the kernels' attributes), e.g.
// "device code sm_90 SASS (compiled for 90a-real;80)".
std::string kernel_set_summary(int device);

// route_topk.cu: scores, (grouped) top-k and weights -> plan.topk_weights / plan.topk_ids.
void launch_route_topk(const moekit_plugin_router_config& cfg, const moekit_plugin_tensor& logits,
                       const moekit_plugin_routing& plan, cudaStream_t stream);

// routing_plan.cu: bitmatrix, expert counts and the padded expert-sorted order from plan.topk_ids
// (T = topk_ids.shape[0]); each present tensor of the plan is written, absent ones are skipped.
void launch_plan_metadata(const moekit_plugin_router_config& cfg, const moekit_plugin_routing& plan,
                          cudaStream_t stream);

// quantize.cu
void launch_quantize(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& input,
                     const moekit_plugin_tensor& values, const moekit_plugin_tensor& scales, cudaStream_t stream);
void launch_dequantize(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& values,
                       const moekit_plugin_tensor& scales, const moekit_plugin_tensor& output, cudaStream_t stream);

// router_gemm.cu: logits[t, e] += bias[e].
void launch_add_bias(float* logits, const float* bias, int64_t tokens, int64_t experts, cudaStream_t stream);

// Ceil-divided grid size, capped so that grid-stride loops cover the rest.
inline unsigned grid_for(int64_t work_items, int threads_per_block, int64_t max_blocks = 65535 * 8) {
  int64_t blocks = (work_items + threads_per_block - 1) / threads_per_block;
  if (blocks < 1) blocks = 1;
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned>(blocks);
}

}  // namespace moekit::cuda
