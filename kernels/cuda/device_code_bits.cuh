// The feature bits a target's device code reports about itself (device_code.cu for the module; the GPU tests'
// own code reports the same bits, tests/gpu/device_code_probe.cu, to know which paths the module takes).
#pragma once

#include "wgmma_e4m3.cuh"

namespace moekit::cuda::device_code_bits {

constexpr int kE4m3Mma = 1;          // warp-level FP8 mma: code built for sm_89 or newer
constexpr int kWgmma = 2;            // warpgroup mma: sm_90a code
constexpr int kDependentLaunch = 4;  // griddepcontrol: sm_90+ code

// The bits of the code this is compiled into: the device pass of each target (the host pass gives 0, the value
// of a host shadow copy that is never read).
__host__ __device__ constexpr int compiled() {
#if defined(__CUDA_ARCH__)
  return (__CUDA_ARCH__ >= 890 ? kE4m3Mma : 0) | (wgmma::kAvailable ? kWgmma : 0) |
         (__CUDA_ARCH__ >= 900 ? kDependentLaunch : 0);
#else
  return 0;
#endif
}

}  // namespace moekit::cuda::device_code_bits
