// Host-side launchers of the HIP module's kernels (the kernels are the shared ones, kernels/common/device/;
// one .hip file instantiates each family). Arguments arrive validated by core; launches are stream-ordered,
// allocate nothing and copy nothing from the host, like the CUDA module's.
#pragma once

#include <hip/hip_runtime_api.h>

#include <string>

#include "moekit_plugin.h"

namespace moekit::hip {

// Which code object runs on `device`, e.g. "device code for gfx90a:sramecc+:xnack-, module built for gfx90a,gfx940".
std::string kernel_set_summary(int device);

void launch_route_topk(const moekit_plugin_router_config& cfg, const moekit_plugin_tensor& logits,
                       const moekit_plugin_routing& plan, hipStream_t stream);
void launch_plan_metadata(const moekit_plugin_router_config& cfg, const moekit_plugin_routing& plan,
                          hipStream_t stream);
void launch_quantize(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& input,
                     const moekit_plugin_tensor& values, const moekit_plugin_tensor& scales, hipStream_t stream);
void launch_dequantize(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& values,
                       const moekit_plugin_tensor& scales, const moekit_plugin_tensor& output, hipStream_t stream);

}  // namespace moekit::hip
