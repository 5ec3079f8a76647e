#include "device_code.h"

#include <cuda_runtime.h>

#include <string>

#include "plugin_error.h"
#include "wgmma_e4m3.cuh"

namespace moekit::cuda {
namespace {

constexpr int kE4m3Mma = 1, kWgmma = 2;

// The features of the code this initializer is compiled into (the device pass of each target; the host pass
// only gives the host's shadow copy, which is never read).
__host__ __device__ constexpr int compiled_features() {
#if defined(__CUDA_ARCH__)
  return (__CUDA_ARCH__ >= 890 ? kE4m3Mma : 0) | (wgmma::kAvailable ? kWgmma : 0);
#else
  return 0;
#endif
}

__device__ int device_code_features = compiled_features();

}  // namespace

DeviceCodeFeatures probe_device_code() {
  int bits = 0;
  const cudaError_t err = cudaMemcpyFromSymbol(&bits, device_code_features, sizeof bits);
  if (err != cudaSuccess) {
    cudaGetLastError();  // not sticky: clear it for the calls that follow
    throw_unsupported(std::string("no device code of this module runs on the device: ") + cudaGetErrorString(err));
  }
  return {(bits & kE4m3Mma) != 0, (bits & kWgmma) != 0};
}

}  // namespace moekit::cuda
