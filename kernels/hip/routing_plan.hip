// HIP instantiation of the routing-plan kernels (kernels/common/device/routing_plan.cuh, shared with CUDA).
#include <hip/hip_runtime.h>

#include "device/routing_plan.cuh"
#include "hip_check.h"
#include "kernel_launch.h"

namespace moekit::hip {

void launch_plan_metadata(const moekit_plugin_router_config& cfg, const moekit_plugin_routing& plan,
                          hipStream_t stream) {
  device::launch_plan_metadata_on<HipRuntime>(cfg, plan, stream);
}

}  // namespace moekit::hip
