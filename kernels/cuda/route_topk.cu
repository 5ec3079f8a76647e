// CUDA instantiation of the fused routing kernel (kernels/common/device/route_topk.cuh: semantics, launch
// shape and the kernel itself live there, shared with the HIP module).
#include <cuda_runtime.h>

#include <string>

#include "cuda_runtime_policy.h"
#include "device/route_topk.cuh"
#include "kernel_launch.h"

namespace moekit::cuda {

static_assert(kMaxDeviceExperts == device::kMaxDeviceExperts, "one expert limit for launchers and kernels");

void launch_route_topk(const moekit_plugin_router_config& cfg, const moekit_plugin_tensor& logits,
                       const moekit_plugin_routing& plan, cudaStream_t stream) {
  device::launch_route_topk_on<CudaRuntime>(cfg, logits, plan, stream);
}

std::string kernel_set_summary(int device) {
  cudaFuncAttributes attr{};
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
  std::string s = "device code ";
  if (cudaFuncGetAttributes(&attr, device::route_topk_kernel) == cudaSuccess)
    s += "sm_" + std::to_string(attr.binaryVersion) + " (PTX " + std::to_string(attr.ptxVersion) + ")";
  else
    s += "unknown";
  s += " for sm_" + std::to_string(major) + std::to_string(minor) + ", module built for " MOEKIT_CUDA_ARCHS;
  return s;
}

}  // namespace moekit::cuda
