// CUDA instantiation of the routing-plan kernels (bitmatrix, counts, padded expert-sorted order, block ids):
// kernels/common/device/routing_plan.cuh, shared with the HIP module.
#include <cuda_runtime.h>

#include "cuda_runtime_policy.h"
#include "device/routing_plan.cuh"
#include "kernel_launch.h"

namespace moekit::cuda {

void launch_plan_metadata(const moekit_plugin_router_config& cfg, const moekit_plugin_routing& plan,
                          cudaStream_t stream) {
  device::launch_plan_metadata_on<CudaRuntime>(cfg, plan, stream);
}

}  // namespace moekit::cuda
