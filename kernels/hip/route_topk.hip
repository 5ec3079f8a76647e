// HIP instantiation of the fused routing kernel (kernels/common/device/route_topk.cuh, shared with CUDA).
#include <hip/hip_runtime.h>

#include <string>

#include "device/route_topk.cuh"
#include "hip_check.h"
#include "kernel_launch.h"

namespace moekit::hip {

void launch_route_topk(const moekit_plugin_router_config& cfg, const moekit_plugin_tensor& logits,
                       const moekit_plugin_routing& plan, hipStream_t stream) {
  device::launch_route_topk_on<HipRuntime>(cfg, logits, plan, stream);
}

std::string kernel_set_summary(int device) {
  hipDeviceProp_t props{};
  std::string arch = "unknown";
  if (hipGetDeviceProperties(&props, device) == hipSuccess) arch = props.gcnArchName;
  return "device code for " + arch + " (wave64), module built for " MOEKIT_HIP_ARCHS;
}

}  // namespace moekit::hip
